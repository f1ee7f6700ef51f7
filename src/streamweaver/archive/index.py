"""The segment index: which segments each stream has, kept in Redis.

Two keys per stream, both in the stream's hash slot (:mod:`streamweaver.keys`):

* ``keys.segment_index(stream)``, a sorted set with one member per segment,
  scored by the first ID's milliseconds. A member is ``<ms>-<seq> <json>``
  with the first ID zero-padded to 20 digits, so that segments starting in the
  same millisecond sort in ID order, followed by the segment's meta as JSON.
* ``keys.archive_state(stream)``, a hash: ``archived_until`` (the last
  archived ID), ``updated_ms``, and the running totals ``archived_messages``
  and ``archived_bytes``.

Redis is only a cache of the store here: :meth:`SegmentIndex.rebuild`
recreates a stream's index from object names and Parquet footers alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis.asyncio
import redis.exceptions

from streamweaver import keys
from streamweaver.archive import layout, scripts
from streamweaver.archive.members import (
    decode_member,
    encode_member,
    stream_of_index_key,
)
from streamweaver.archive.rebuild import choose_chain, stored_segments
from streamweaver.archive.segment import SegmentMeta
from streamweaver.connection import translated
from streamweaver.errors import ArchiveError, LeaseLostError
from streamweaver.storage.base import Store

log = logging.getLogger(__name__)

_DELETES = 16


class SegmentIndex:
    """Record, look up, rebuild and remove one broker's archived segments."""

    def __init__(self, redis: redis.asyncio.Redis, store: Store) -> None:
        self._redis = redis
        self._store = store
        self._address = _address(redis)
        self._record = redis.register_script(scripts.RECORD)
        self._replace = redis.register_script(scripts.REPLACE)
        self._remove = redis.register_script(scripts.REMOVE)
        self._replace_all = redis.register_script(scripts.REPLACE_ALL)

    async def record(self, meta: SegmentMeta, *, epoch: int | None = None) -> None:
        """Add a segment and advance the stream's archived-until ID, atomically.

        Recording the same segment again does nothing. Raises ArchiveError if
        the segment starts at or before the archived-until ID, LeaseLostError
        if ``epoch`` is lower than the stream lease's.
        """
        stream = meta.stream
        args = [
            encode_member(meta),
            meta.first_ms,
            meta.name,
            meta.first_id,
            meta.last_id,
            "" if epoch is None else epoch,
            meta.count,
            meta.size_bytes,
            _now_ms(),
        ]
        stream_keys = [
            _key(keys.segment_index(stream)),
            _key(keys.archive_state(stream)),
            _key(keys.stream_lease(stream)),
        ]
        with self._redis_errors(stream):
            reply = await self._record(keys=stream_keys, args=args)
        outcome = _text(reply[0])
        if outcome == "lease":
            raise LeaseLostError(
                f"stream {stream!r} is now leased under epoch {_text(reply[1])}, "
                f"above this instance's {epoch}; segment {meta.name} was not recorded",
                stream=stream,
            )
        if outcome == "overlap":
            raise ArchiveError(
                f"segment {meta.name} of stream {stream!r} starts at {meta.first_id}, "
                f"but the archive already holds everything up to {_text(reply[1])}",
                stream=stream,
            )
        log.debug("Recorded segment %s (%s) of stream %r.", meta.name, outcome, stream)

    async def archived_until(self, stream: str) -> str | None:
        """The last archived ID of a stream, None if nothing was archived yet."""
        with self._redis_errors(stream):
            value = await self._redis.hget(
                _key(keys.archive_state(stream)), "archived_until"
            )
        return None if value is None else _text(value)

    async def segments(
        self, stream: str, start_id: str | None = None, end_id: str | None = None
    ) -> list[SegmentMeta]:
        """The segments overlapping ``[start_id, end_id]`` (inclusive), in ID order."""
        start = None if start_id is None else layout.parse_bound(start_id, 0)
        end = None if end_id is None else layout.parse_bound(end_id, layout.MAX_PART)
        key = _key(keys.segment_index(stream))
        with self._redis_errors(stream):
            if start is None and end is None:
                members = await self._redis.zrange(key, 0, -1)
            else:
                members = await self._members_around(key, start, end)
        metas = {decode_member(stream, member) for member in members}
        chosen = [
            meta
            for meta in metas
            if (start is None or layout.parse_id(meta.last_id) >= start)
            and (end is None or layout.parse_id(meta.first_id) <= end)
        ]
        return sorted(chosen, key=lambda meta: layout.parse_id(meta.first_id))

    async def streams(self, *, from_store: bool = False) -> list[str]:
        """Streams with an archive: from the Redis index, else the store listing."""
        found: set[str] = set()
        if not from_store:
            with self._redis_errors(None):
                async for key in self._redis.scan_iter(
                    match=f"{keys.PREFIX}{{*}}:segments*", count=1000, _type="zset"
                ):
                    stream = stream_of_index_key(_text(key))
                    if stream is not None:
                        found.add(stream)
        if not found:
            async for info in self._store.list(""):
                parsed = layout.parse_segment_name(info.name)
                if parsed is not None:
                    found.add(parsed[0])
        return sorted(found)

    async def ensure(self, stream: str) -> None:
        """Rebuild a stream's index if Redis has none but the store has segments."""
        with self._redis_errors(stream):
            indexed = await self._redis.zcard(_key(keys.segment_index(stream)))
        if indexed:
            return
        async for _info in self._store.list(layout.stream_prefix(stream)):
            log.info(
                "Redis has no segment index for stream %r but the store has "
                "segments; rebuilding it from the store.",
                stream,
            )
            await self.rebuild(stream)
            return

    async def rebuild(self, stream: str) -> list[SegmentMeta]:
        """Recreate a stream's index from the store's object names and footers.

        Objects that overlap are resolved by keeping the set of non-overlapping
        segments that holds the most messages (ties go to more recently
        written objects); see docs/archive-format.md. Checksums of segments
        Redis still knew are kept; the others are learned on first read.
        """
        key_segments = _key(keys.segment_index(stream))
        key_state = _key(keys.archive_state(stream))
        for _attempt in range(3):
            with self._redis_errors(stream):
                known_members = await self._redis.zrange(key_segments, 0, -1)
                until = await self._redis.hget(key_state, "archived_until")
            known = {
                m.name: m for m in (decode_member(stream, x) for x in known_members)
            }
            candidates = await stored_segments(self._store, stream, known)
            chain = choose_chain(candidates)
            if await self._apply(stream, chain, known_members, until):
                _log_rebuild(stream, chain, candidates)
                return chain
        raise ArchiveError(
            f"the segment index of stream {stream!r} kept changing while it was "
            "being rebuilt; stop the archiver for this stream and try again",
            stream=stream,
        )

    async def remove(self, metas: Sequence[SegmentMeta]) -> None:
        """Forget segments in the index, then delete their objects."""
        by_stream: dict[str, list[SegmentMeta]] = {}
        for meta in metas:
            by_stream.setdefault(meta.stream, []).append(meta)
        for stream, group in by_stream.items():
            args: list[Any] = []
            for meta in group:
                args += [meta.first_ms, meta.name]
            with self._redis_errors(stream):
                await self._remove(keys=[_key(keys.segment_index(stream))], args=args)
        limit = asyncio.Semaphore(_DELETES)

        async def delete(name: str) -> None:
            async with limit:
                await self._store.delete(name)

        async with asyncio.TaskGroup() as group:
            for meta in metas:
                group.create_task(delete(meta.name))

    async def learn_checksum(self, meta: SegmentMeta, sha256: str) -> SegmentMeta:
        """Store the checksum of a segment indexed without one (after a rebuild)."""
        learned = _replace_sha(meta, sha256)
        with self._redis_errors(meta.stream):
            await self._replace(
                keys=[_key(keys.segment_index(meta.stream))],
                args=[meta.first_ms, encode_member(meta), encode_member(learned)],
            )
        return learned

    async def _apply(
        self,
        stream: str,
        chain: list[SegmentMeta],
        known_members: list[bytes],
        until: bytes | None,
    ) -> bool:
        new_until = chain[-1].last_id if chain else ""
        if until is not None and (
            not new_until or layout.parse_id(_text(until)) > layout.parse_id(new_until)
        ):
            new_until = _text(until)  # never move the archived point backwards
        args: list[Any] = [
            "" if until is None else _text(until),
            len(known_members),
            new_until,
            sum(meta.count for meta in chain),
            sum(meta.size_bytes for meta in chain),
            _now_ms(),
        ]
        for meta in chain:
            args += [meta.first_ms, encode_member(meta)]
        stream_keys = [
            _key(keys.segment_index(stream)),
            _key(keys.archive_state(stream)),
        ]
        with self._redis_errors(stream):
            return bool(await self._replace_all(keys=stream_keys, args=args))

    @contextmanager
    def _redis_errors(self, stream: str | None) -> Iterator[None]:
        with translated(self._address):
            try:
                yield
            except redis.exceptions.ResponseError as exc:
                what = f"stream {stream!r}" if stream is not None else "the archive"
                raise ArchiveError(
                    f"Redis refused an update of the segment index of {what}: {exc}",
                    stream=stream,
                ) from exc

    async def _members_around(
        self, key: bytes, start: tuple[int, int] | None, end: tuple[int, int] | None
    ) -> list[bytes]:
        low = "-inf" if start is None else start[0]
        high = "+inf" if end is None else end[0]
        pipe = self._redis.pipeline(transaction=False)
        if start is not None:
            # The one segment starting before ``start`` that may still reach it.
            pipe.zrevrangebyscore(key, f"({start[0]}", "-inf", start=0, num=1)
        pipe.zrangebyscore(key, low, high)
        replies = await pipe.execute()
        return [member for reply in replies for member in reply]


def _replace_sha(meta: SegmentMeta, sha256: str) -> SegmentMeta:
    return dataclasses.replace(meta, sha256=sha256)


def _log_rebuild(
    stream: str, chain: list[SegmentMeta], candidates: list[SegmentMeta]
) -> None:
    left_out = sorted({m.name for m in candidates} - {m.name for m in chain})
    log.info(
        "Rebuilt the segment index of stream %r from the store: %d segment(s), "
        "%d message(s), archived until %s.",
        stream,
        len(chain),
        sum(meta.count for meta in chain),
        chain[-1].last_id if chain else "nothing",
    )
    if left_out:
        log.warning(
            "Left %d object(s) of stream %r out of the rebuilt index because they "
            "overlap segments that hold more messages: %s",
            len(left_out),
            stream,
            ", ".join(left_out),
        )


def _address(client: redis.asyncio.Redis) -> str:
    kwargs = getattr(client, "connection_pool", None)
    kwargs = getattr(kwargs, "connection_kwargs", {}) if kwargs else {}
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def _key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _text(value: bytes | str) -> str:
    return (
        value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000

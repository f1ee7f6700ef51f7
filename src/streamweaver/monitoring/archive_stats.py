"""Archive size per stream, from the segment index in Redis, kept up to date cheaply.

Each cycle reads, per stream and pipelined, the index's ``ZCARD``, its first
member and ``archived_until``. Byte totals are summed from the index members
(``<first id> <json meta>``, see :mod:`streamweaver.archive.index`) only when
they changed: appended segments are read by rank (``ZRANGE <old count> <new
count - 1>``), and only a stream that lost segments (``archive.max_age``) or was
rebuilt is read whole.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio

from streamweaver import keys
from streamweaver.archive.index import SegmentIndex
from streamweaver.monitoring import api_models as m
from streamweaver.monitoring.snapshot import ArchiveStats
from streamweaver.storage.base import Store

BATCH_STREAMS = 500


@dataclass(frozen=True, slots=True)
class _Known:
    segments: int
    first_id: str | None
    archived_until: str | None
    bytes: int


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return (
        value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    )


def _key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _meta(member: bytes) -> dict:
    return json.loads(member.split(b" ", 1)[1])


class IndexArchiveSource:
    """Archive summaries and segment lists from the segment index."""

    def __init__(self, client: redis.asyncio.Redis, store: Store) -> None:
        self._client = client
        self._index = SegmentIndex(client, store)
        self._known: dict[str, _Known] = {}

    async def summaries(self, streams: Sequence[str]) -> dict[str, ArchiveStats]:
        found: dict[str, ArchiveStats] = {}
        for start in range(0, len(streams), BATCH_STREAMS):
            found.update(await self._batch(streams[start : start + BATCH_STREAMS]))
        return found

    async def segments(self, stream: str) -> list[m.Segment] | None:
        """The stream's segments, or None if neither Redis nor the index has it."""
        metas = await self._index.segments(stream)
        if not metas and not await self._client.exists(_key(stream)):
            return None
        return [
            m.Segment(
                first_id=meta.first_id,
                last_id=meta.last_id,
                messages=meta.count,
                bytes=meta.size_bytes,
                path=meta.name,
                created_ms=meta.created_ms,
            )
            for meta in metas
        ]

    async def _batch(self, streams: Sequence[str]) -> dict[str, ArchiveStats]:
        pipe = self._client.pipeline(transaction=False)
        for stream in streams:
            index = _key(keys.segment_index(stream))
            pipe.zcard(index)
            pipe.zrange(index, 0, 0)
            pipe.hget(_key(keys.archive_state(stream)), "archived_until")
        replies = await pipe.execute()

        found: dict[str, ArchiveStats] = {}
        for i, stream in enumerate(streams):
            count, first, until = replies[3 * i : 3 * i + 3]
            found[stream] = ArchiveStats(
                segments=int(count),
                first_id=_meta(first[0])["first_id"] if first else None,
                archived_until=_text(until),
            )
        await self._add_bytes(found)
        return found

    async def _add_bytes(self, found: dict[str, ArchiveStats]) -> None:
        reads: list[tuple[str, int]] = []
        pipe = self._client.pipeline(transaction=False)
        for stream, stats in found.items():
            known = self._known.get(stream)
            if known and known.first_id != stats.first_id:
                known = None  # segments were removed or the index rebuilt
            if known and (known.segments, known.archived_until) == (
                stats.segments,
                stats.archived_until,
            ):
                stats.bytes = known.bytes
                continue
            # Ranks as counted above, not "the last k": segments recorded since
            # then must wait for the next cycle, or they would be counted twice.
            index = _key(keys.segment_index(stream))
            if known and stats.segments > known.segments:
                pipe.zrange(index, known.segments, stats.segments - 1)
                reads.append((stream, known.bytes))
            elif stats.segments:
                pipe.zrange(index, 0, stats.segments - 1)
                reads.append((stream, 0))
        replies = await pipe.execute() if reads else []
        for (stream, base), members in zip(reads, replies, strict=True):
            found[stream].bytes = base + sum(_meta(x)["size_bytes"] for x in members)
        for stream, stats in found.items():
            self._known[stream] = _Known(
                stats.segments, stats.first_id, stats.archived_until, stats.bytes
            )

"""Reading stream, group and consumer statistics from Redis in bounded batches.

A cycle costs two pipelined round trips per batch of streams: first
``XINFO STREAM``, ``XINFO GROUPS``, ``MEMORY USAGE`` and ``XLEN`` of the dead
letter stream for each stream; then, only where needed, one ``XRANGE ... COUNT
1`` per lagging group (the oldest unread entry), ``XPENDING`` per group with
pending entries and ``XINFO CONSUMERS`` per group. No call walks a whole stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio
import redis.exceptions

from streamweaver import keys
from streamweaver.monitoring.snapshot import (
    ConsumerStats,
    GroupStats,
    StreamStats,
    age_s,
)

BATCH_STREAMS = 250
"""Streams per pipeline; bounds the size of one round trip."""

MEMORY_SAMPLES = 5
"""``MEMORY USAGE ... SAMPLES``: a small sample keeps the estimate cheap."""


def _key(name: str) -> bytes:
    """Names decoded with surrogateescape go back to Redis as the same bytes."""
    return name.encode("utf-8", "surrogateescape")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


async def server_time_ms(client: redis.asyncio.Redis) -> int:
    """Redis's own clock, so ages agree with the IDs Redis generated."""
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def read_streams(
    client: redis.asyncio.Redis,
    streams: Sequence[str],
    now_ms: int,
    archived_until: Mapping[str, str | None] | None = None,
) -> tuple[dict[str, StreamStats], dict[str, float | None]]:
    """Statistics of each stream that exists; streams that vanished are left out.

    Also returns, per stream, the age of its oldest entry newer than
    ``archived_until[stream]`` (the archive lag; 0 when everything is archived).
    """
    found: dict[str, StreamStats] = {}
    archive_lag_s: dict[str, float | None] = {}
    archived_until = archived_until or {}
    for start in range(0, len(streams), BATCH_STREAMS):
        batch = streams[start : start + BATCH_STREAMS]
        stats = await _read_batch(client, batch, now_ms)
        archive_lag_s.update(
            await _complete_batch(client, stats, now_ms, archived_until)
        )
        found.update(stats)
    return found, archive_lag_s


async def _read_batch(
    client: redis.asyncio.Redis, streams: Sequence[str], now_ms: int
) -> dict[str, StreamStats]:
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.xinfo_stream(_key(stream))
        pipe.xinfo_groups(_key(stream))
        pipe.memory_usage(_key(stream), samples=MEMORY_SAMPLES)
        pipe.xlen(_key(keys.dead_letter_stream(stream)))
    replies = await pipe.execute(raise_on_error=False)

    found = {}
    for i, stream in enumerate(streams):
        info, groups, memory, dead = replies[4 * i : 4 * i + 4]
        if isinstance(info, redis.exceptions.ResponseError):
            continue  # deleted since discovery, or no longer a stream
        _raise_if_error(info, groups, memory, dead)
        found[stream] = _stream_stats(stream, info, groups, memory, dead, now_ms)
    return found


def _raise_if_error(*replies: object) -> None:
    for reply in replies:
        if isinstance(reply, redis.exceptions.ConnectionError | OSError):
            raise reply


def _stream_stats(
    stream: str, info: dict, groups: list, memory: Any, dead: Any, now_ms: int
) -> StreamStats:
    first = info.get("first-entry")
    last = info.get("last-entry")
    first_id = _text(first[0]) if first else None
    last_id = _text(last[0]) if last else None
    return StreamStats(
        name=stream,
        length=int(info["length"]),
        entries_added=int(info.get("entries-added") or info["length"]),
        memory_bytes=int(memory) if isinstance(memory, int) else None,
        first_id=first_id,
        last_id=last_id,
        oldest_age_s=age_s(now_ms, first_id),
        newest_age_s=age_s(now_ms, last_id),
        dead_letters=int(dead) if isinstance(dead, int) else 0,
        groups=[_group_stats(g) for g in groups] if isinstance(groups, list) else [],
    )


def _group_stats(reply: dict) -> GroupStats:
    lag = reply.get("lag")
    return GroupStats(
        name=_text(reply["name"]),
        consumers=[],
        pending=int(reply["pending"]),
        last_delivered_id=_text(reply["last-delivered-id"]),
        lag=None if lag is None else int(lag),
    )


async def _complete_batch(
    client: redis.asyncio.Redis,
    stats: Mapping[str, StreamStats],
    now_ms: int,
    archived_until: Mapping[str, str | None],
) -> dict[str, float | None]:
    pipe = client.pipeline(transaction=False)
    steps: list[tuple[str, Any]] = []
    for stream, s in stats.items():
        for group in s.groups:
            key, group_name = _key(stream), _key(group.name)
            pipe.xinfo_consumers(key, group_name)
            steps.append(("consumers", group))
            if group.lag != 0:
                pipe.xrange(key, f"({group.last_delivered_id}", "+", count=1)
                steps.append(("unread", group))
            if group.pending:
                pipe.xpending(key, group_name)
                steps.append(("pending", group))
        if stream in archived_until:
            start = archived_until[stream]
            pipe.xrange(_key(stream), f"({start}" if start else "-", "+", count=1)
            steps.append(("unarchived", stream))
    if not steps:
        return {}
    replies = await pipe.execute(raise_on_error=False)
    _raise_if_error(*replies)

    archive_lag_s: dict[str, float | None] = {}
    for (kind, target), reply in zip(steps, replies, strict=True):
        if isinstance(reply, redis.exceptions.ResponseError):
            continue  # the group or stream went away between the two round trips
        if kind == "consumers":
            target.consumers = [_consumer_stats(c) for c in reply]
        elif kind == "unread":
            target.lag_s = age_s(now_ms, reply[0][0]) if reply else 0.0
            if not reply:
                target.lag = 0
        elif kind == "pending":
            target.oldest_pending_age_s = age_s(now_ms, reply.get("min"))
        else:
            archive_lag_s[target] = age_s(now_ms, reply[0][0]) if reply else 0.0
    for s in stats.values():
        for group in s.groups:
            if group.lag == 0:
                group.lag_s = 0.0
    return archive_lag_s


def _consumer_stats(reply: dict) -> ConsumerStats:
    inactive = reply.get("inactive")
    return ConsumerStats(
        name=_text(reply["name"]),
        pending=int(reply["pending"]),
        idle_s=int(reply["idle"]) / 1000,
        inactive_s=None if inactive is None or inactive < 0 else inactive / 1000,
    )

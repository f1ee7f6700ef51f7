"""Checks of a replay request against what Redis and the archive hold.

Run by the broker when a request arrives, before anything is written: the
stream must exist in Redis or in the archive, the range must hold data, the
target must be a stream (or not exist), and in ``preserve`` mode the target's
last ID must be below the first entry to replay. An open end (``+``) is fixed
here to the stream's last entry, so a replay appended to its own source ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio

from streamweaver.archive.rawread import xrange_raw
from streamweaver.client.ids import MAX_ID, StreamId, parse_id
from streamweaver.config.model import ReplayConfig
from streamweaver.replay.request import ReplayRejectedError, ReplayRequest
from streamweaver.replay.tiers import ArchiveSource


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked request with everything resolved that execution needs."""

    target: str
    end_id: StreamId
    batch_size: int
    target_ttl_s: float | None
    total: int
    """Messages in the range: exact for Redis, from segment counts for the
    archive (whole segments, so an upper bound at the range's edges)."""


async def plan(
    client: redis.asyncio.Redis,
    archive: ArchiveSource | None,
    request: ReplayRequest,
    *,
    target: str,
    config: ReplayConfig,
    partitions: Sequence[str] = (),
) -> Plan:
    """Check ``request`` against Redis and the archive; raise if it cannot run.

    With ``partitions`` the stream is a logical one, replayed as its
    partitions merged by ID.
    """
    stream = request.stream
    batch_size = _batch_size(request, config)
    if partitions and request.mode == "preserve":
        raise ReplayRejectedError(
            "preserve_logical",
            f"the logical stream {stream!r} cannot be replayed in preserve mode: "
            "IDs of different partitions can be equal, so the merged messages need "
            "new IDs; use mode 'append' (each message keeps its ID and partition in "
            "the sw:origin-id, sw:origin-stream and sw:origin-partition headers)",
            stream=stream,
        )
    if partitions and target == stream:
        raise ReplayRejectedError(
            "invalid_target",
            f"a replay of the logical stream {stream!r} cannot write to a stream of "
            "the same name, which producers would take for the logical one; choose "
            "another target",
            stream=stream,
        )
    names = list(partitions) or [stream]
    spans = [await _redis_span(client, name) for name in names]
    archived = [
        await archive.archived_until(name) if archive is not None else None
        for name in names
    ]
    bounds = [a for a in archived if a is not None]
    bounds += [span[1] for span in spans if span is not None]
    if not bounds:
        what = (
            f"the logical stream {stream!r} has no entries in any of its "
            f"{len(names)} partitions, neither in Redis nor in the archive"
            if partitions
            else f"there is no stream {stream!r}, neither in Redis nor in the archive"
        )
        raise ReplayRejectedError("unknown_stream", what, stream=stream)
    end = min(request.end_id, max(bounds))

    first: StreamId | None = None
    total = 0
    for name, span in zip(names, spans, strict=True):
        part_first, part_total = await _first_and_total(
            client, archive, name, request.start_id, end, span
        )
        total += part_total
        if part_first is not None:
            first = part_first if first is None else min(first, part_first)
    if first is None:
        holds = (
            f"entries in its {len(names)} partitions, none in that range"
            if partitions
            else _describe(spans[0], archived[0])
        )
        raise ReplayRejectedError(
            "empty_range",
            f"stream {stream!r} has no entries from {request.start!r} to "
            f"{request.end!r} ({_range(request.start_id, request.end_id)}); it "
            f"holds {holds}",
            stream=stream,
        )

    target_type, target_last = await _target_state(client, target)
    if target_type not in ("none", "stream"):
        raise ReplayRejectedError(
            "target_not_stream",
            f"target {target!r} is a {target_type}, not a stream; choose another "
            "target or delete that key",
            stream=stream,
        )
    if request.mode == "preserve" and target_last is not None and target_last >= first:
        raise ReplayRejectedError(
            "target_ahead",
            f"cannot keep the original IDs in {target!r}: its last ID {target_last} "
            f"is not below the first ID to replay, {first}; replay into a new "
            "stream, or use mode 'append' (new IDs, original in sw:origin-id)",
            stream=stream,
        )
    if request.target_ttl_s is not None and target_type == "stream":
        raise ReplayRejectedError(
            "invalid_target_ttl",
            f"target_ttl applies only to a target the replay creates, and "
            f"{target!r} already exists",
            stream=stream,
        )
    ttl_s = request.target_ttl_s or config.target_ttl_s
    return Plan(
        target=target,
        end_id=end,
        batch_size=batch_size,
        target_ttl_s=ttl_s if target_type == "none" else None,
        total=total,
    )


def _batch_size(request: ReplayRequest, config: ReplayConfig) -> int:
    limit = config.max_replay_batch_size
    if request.batch_size is None:
        return limit
    if request.batch_size > limit:
        raise ReplayRejectedError(
            "invalid_batch_size",
            f"batch_size {request.batch_size} is above this broker's limit of "
            f"{limit} (replay.max_replay_batch_size)",
            stream=request.stream,
        )
    return request.batch_size


async def _redis_span(
    client: redis.asyncio.Redis, stream: str
) -> tuple[StreamId, StreamId] | None:
    kind = _text(await client.type(stream))
    if kind == "none":
        return None
    if kind != "stream":
        raise ReplayRejectedError(
            "not_a_stream",
            f"{stream!r} is a {kind} in Redis, not a stream",
            stream=stream,
        )
    first = await xrange_raw(client, stream, "-", "+", 1)
    last = await client.execute_command("XREVRANGE", stream, "+", "-", "COUNT", 1)
    if not first or not last:
        return None
    return parse_id(first[0][0]), parse_id(_last_id(last))


async def _first_and_total(
    client: redis.asyncio.Redis,
    archive: ArchiveSource | None,
    stream: str,
    start: StreamId,
    end: StreamId,
    redis_span: tuple[StreamId, StreamId] | None,
) -> tuple[StreamId | None, int]:
    first: StreamId | None = None
    total = 0
    redis_start = start
    archived = await archive.first_last_count(stream, start, end) if archive else None
    if archived is not None:
        first, last, total = archived
        if last >= end:
            return first, total
        redis_start = last.next()
    if redis_span is None:
        return first, total
    head = await xrange_raw(client, stream, str(redis_start), str(end), 1)
    if head:
        redis_first = parse_id(head[0][0])
        first = redis_first if first is None else min(first, redis_first)
        length = await client.xlen(stream)
        total += _estimate(length, redis_span, redis_first, end)
    return first, total


def _estimate(
    length: int, span: tuple[StreamId, StreamId], start: StreamId, end: StreamId
) -> int:
    # Redis cannot count a range without reading it; estimate from the share
    # of the stream's ID time span that the range covers.
    lo, hi = span
    if start <= lo and end >= hi:
        return length
    covered_ms = min(end, hi).ms - max(start, lo).ms
    return max(1, round(length * max(0, covered_ms) / max(1, hi.ms - lo.ms)))


async def _target_state(
    client: redis.asyncio.Redis, target: str
) -> tuple[str, StreamId | None]:
    kind = _text(await client.type(target))
    if kind != "stream":
        return kind, None
    info = await client.xinfo_stream(target)
    return kind, parse_id(info["last-generated-id"])


def _describe(
    redis_span: tuple[StreamId, StreamId] | None, archived: StreamId | None
) -> str:
    parts = []
    if archived is not None:
        parts.append(f"entries up to {archived} in the archive")
    if redis_span is not None:
        parts.append(f"{redis_span[0]} to {redis_span[1]} in Redis")
    return " and ".join(parts) or "nothing"


def _range(start: StreamId, end: StreamId) -> str:
    return f"IDs {start} to {'the end' if end == MAX_ID else end}"


def _last_id(reply: list) -> bytes:
    entry = reply[0]
    return entry[0] if isinstance(entry, list | tuple) else entry


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

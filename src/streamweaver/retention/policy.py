"""Retention as pure logic: which entries may leave Redis, and why.

Every rule yields a candidate ``MINID`` (entries below it may go). The trim
point is the largest candidate of the stream's policy, held below the oldest
entry an active consumer group still needs when ``protect_unacked`` is on,
raised again to ``redis.stream_max_length`` (a hard cap that groups cannot
hold back), and finally capped at the entry after the last archived one: an
entry that is not in the archive never leaves Redis, whatever the limits say.

Overrides in ``streams.overrides`` are glob patterns tried in file order; the
first pattern that matches the stream name applies, keys it leaves out keep
the global value.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from streamweaver.config.model import Config, RetentionOverride
from streamweaver.retention.ids import StreamId, next_id

TIME = "time"
SIZE = "size"
COUNT = "count"
MAX_LENGTH = "max_length"
"""Reason label for ``redis.stream_max_length``, the cap every policy obeys."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StreamRetention:
    """The retention rules in force for one stream, overrides applied."""

    policy: str
    max_age_s: float
    max_size_bytes: int
    max_length: int | None
    hard_max_length: int | None
    protect_unacked: bool
    group_idle_timeout_s: float


@dataclass(frozen=True, slots=True)
class GroupState:
    """What retention needs to know about one consumer group."""

    name: str
    last_delivered: StreamId
    oldest_pending: StreamId | None
    idle: bool


@dataclass(frozen=True, slots=True)
class TrimDecision:
    """Where to trim one stream and why; ``minid`` None means leave it alone."""

    minid: StreamId | None
    reason: str | None
    wanted: StreamId | None
    held_by_archive: bool
    held_by_group: str | None


def override_for(stream: str, config: Config) -> RetentionOverride | None:
    """The first override whose glob pattern matches the stream, if any."""
    for pattern, override in config.streams.overrides.items():
        if fnmatch.fnmatchcase(stream, pattern):
            return override
    return None


def retention_for(stream: str, config: Config) -> StreamRetention:
    """The effective retention rules for one stream."""
    base = config.retention
    hard = config.redis.stream_max_length or None
    override = override_for(stream, config) or RetentionOverride()
    return StreamRetention(
        policy=_pick(override.policy, base.policy),
        max_age_s=_pick(override.max_age_s, base.max_age_s),
        max_size_bytes=_pick(override.max_size_bytes, base.max_size_bytes),
        max_length=override.max_length if override.max_length is not None else hard,
        hard_max_length=hard,
        protect_unacked=_pick(override.protect_unacked, base.protect_unacked),
        group_idle_timeout_s=base.group_idle_timeout_s,
    )


def time_minid(rule: StreamRetention, now_ms: int) -> StreamId | None:
    """The time policy's point: entries older than ``max_age`` may go."""
    if rule.policy != TIME:
        return None
    return (max(0, now_ms - int(rule.max_age_s * 1000)), 0)


def excess_entries(
    rule: StreamRetention, length: int, memory_bytes: int | None
) -> dict[str, int]:
    """How many of the oldest entries each count-like rule wants gone.

    The size policy assumes every entry takes the stream's average memory
    (``MEMORY USAGE`` divided by ``XLEN``), so it is an estimate: streams with
    very uneven entry sizes end up somewhat above or below ``max_size``.
    """
    excess: dict[str, int] = {}
    if rule.hard_max_length is not None and length > rule.hard_max_length:
        excess[MAX_LENGTH] = length - rule.hard_max_length
    cap = rule.max_length
    if rule.policy == COUNT and cap is not None and length > cap:
        excess[COUNT] = length - cap
    if rule.policy == SIZE and memory_bytes and length:
        over_bytes = memory_bytes - rule.max_size_bytes
        if over_bytes > 0:
            per_entry = memory_bytes / length
            excess[SIZE] = min(length, math.ceil(over_bytes / per_entry))
    return excess


def group_is_idle(
    consumer_idle_ms: Iterable[int], empty_for_s: float | None, timeout_s: float
) -> bool:
    """Tell whether a group has had no consumer seen within ``timeout_s``.

    A consumer counts as seen at its last attempted read (``idle`` in XINFO
    CONSUMERS), so one that polls an empty stream keeps its group active. A
    group without consumers is idle once it has been seen empty for that long.
    """
    idles = list(consumer_idle_ms)
    if not idles:
        return empty_for_s is not None and empty_for_s > timeout_s
    return min(idles) > timeout_s * 1000


def group_floor(groups: Iterable[GroupState]) -> tuple[StreamId | None, str | None]:
    """The lowest point that keeps every active group's unread and pending entries."""
    floor: StreamId | None = None
    holder: str | None = None
    for group in groups:
        if group.idle:
            continue
        point = next_id(group.last_delivered)
        if group.oldest_pending is not None:
            point = min(point, group.oldest_pending)
        if floor is None or point < floor:
            floor, holder = point, group.name
    return floor, holder


def decide(
    points: Mapping[str, StreamId],
    *,
    first_id: StreamId | None,
    archived_until: StreamId | None,
    last_id: StreamId | None = None,
    floor: StreamId | None = None,
    floor_holder: str | None = None,
) -> TrimDecision:
    """Combine the rules' candidate points into the one MINID to trim to."""
    soft = {r: p for r, p in points.items() if r != MAX_LENGTH}
    reason = max(soft, key=soft.__getitem__) if soft else None
    wanted = soft[reason] if reason else None
    held_by_group = None
    if wanted is not None and floor is not None and floor < wanted:
        wanted, held_by_group = floor, floor_holder
    hard = points.get(MAX_LENGTH)
    if hard is not None and (wanted is None or hard >= wanted):
        wanted, reason = hard, MAX_LENGTH
        held_by_group = None

    if wanted is None or first_id is None or wanted <= first_id:
        return TrimDecision(None, None, wanted, False, held_by_group)
    cap = next_id(archived_until) if archived_until is not None else None
    held_by_archive = cap is None or cap < wanted
    if held_by_archive and cap is not None and last_id is not None and last_id < cap:
        held_by_archive = False  # everything in Redis is archived: nothing held
    minid = None if cap is None else min(wanted, cap)
    if minid is None or minid <= first_id:
        minid = None
    return TrimDecision(minid, reason, wanted, held_by_archive, held_by_group)


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value

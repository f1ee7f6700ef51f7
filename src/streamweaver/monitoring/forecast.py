"""How long until retention would trim entries a consumer group has not read yet.

For one group, with ``unread`` its lag in entries, ``g`` the stream's smoothed
growth in entries per second, and the group making no further progress:

* ``time`` policy: ``max_age - age of the oldest unread entry``;
* ``count`` policy and ``redis.stream_max_length``: ``(cap - unread) / g``,
  since trimming keeps the newest ``cap`` entries and the oldest unread one
  goes once ``unread + g * t`` exceeds the cap;
* ``size`` policy: the same with ``cap = max_size / average entry size``
  (``MEMORY USAGE / XLEN``).

The smallest of the limits that apply wins; with ``protect_unacked`` only the
hard cap applies to a group that is not idle. The result is 0 when the limit is
already exceeded and +Inf when nothing is unread or the stream does not grow.
Retention trims only archived entries, so a stalled archiver delays trimming:
the forecast is then early, never late.
"""

from __future__ import annotations

import math

from streamweaver.monitoring.snapshot import GroupStats, StreamStats
from streamweaver.retention.policy import (
    COUNT,
    SIZE,
    TIME,
    StreamRetention,
    group_is_idle,
)

NEVER = math.inf


def seconds_until_trim(
    rule: StreamRetention, stream: StreamStats, group: GroupStats
) -> float:
    """Seconds until the group's oldest unread entry would be trimmed."""
    if group.lag == 0:
        return NEVER
    unread = group.lag if group.lag is not None else stream.length
    growth = stream.growth_per_s or 0.0
    limits = []
    if not (rule.protect_unacked and not _idle(rule, group)):
        if rule.policy == TIME and group.lag_s is not None:
            limits.append(max(0.0, rule.max_age_s - group.lag_s))
        if rule.policy == COUNT and rule.max_length is not None:
            limits.append(_count_limit(rule.max_length, unread, growth))
        if rule.policy == SIZE and stream.memory_bytes and stream.length:
            per_entry = stream.memory_bytes / stream.length
            cap = rule.max_size_bytes / per_entry
            limits.append(_count_limit(cap, unread, growth))
    if rule.hard_max_length is not None:
        limits.append(_count_limit(rule.hard_max_length, unread, growth))
    return min(limits, default=NEVER)


def _idle(rule: StreamRetention, group: GroupStats) -> bool:
    idle_ms = [int(c.idle_s * 1000) for c in group.consumers]
    return group_is_idle(idle_ms, None, rule.group_idle_timeout_s)


def _count_limit(cap: float, unread: int, growth_per_s: float) -> float:
    room = cap - unread
    if room <= 0:
        return 0.0
    if growth_per_s <= 0:
        return NEVER
    return room / growth_per_s

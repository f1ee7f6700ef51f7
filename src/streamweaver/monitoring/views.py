"""From snapshot dataclasses to the API's JSON models."""

from __future__ import annotations

import math

from streamweaver.monitoring import api_models as m
from streamweaver.monitoring.snapshot import GroupStats, StreamStats, printable
from streamweaver.retention.policy import StreamRetention


def finite(value: float | None) -> float | None:
    """JSON has no infinity: a forecast that never happens becomes null."""
    return None if value is None or math.isinf(value) or math.isnan(value) else value


def stream_summary(s: StreamStats) -> m.StreamSummary:
    return m.StreamSummary(**_summary_fields(s))


def stream_detail(s: StreamStats, rule: StreamRetention) -> m.StreamDetail:
    return m.StreamDetail(
        **_summary_fields(s),
        group_details=[_group(g) for g in s.groups],
        retention=m.Retention(
            policy=rule.policy,
            max_age_s=rule.max_age_s,
            max_size_bytes=rule.max_size_bytes,
            max_length=rule.max_length,
            hard_max_length=rule.hard_max_length,
            protect_unacked=rule.protect_unacked,
        ),
    )


def _summary_fields(s: StreamStats) -> dict:
    lags = [g.lag for g in s.groups if g.lag is not None]
    lags_s = [g.lag_s for g in s.groups if g.lag_s is not None]
    return {
        "name": printable(s.name),
        "length": s.length,
        "memory_bytes": s.memory_bytes,
        "entries_added": s.entries_added,
        "rate_per_s": s.rate_per_s,
        "first_id": s.first_id,
        "last_id": s.last_id,
        "oldest_age_s": s.oldest_age_s,
        "newest_age_s": s.newest_age_s,
        "dead_letters": s.dead_letters,
        "groups": len(s.groups),
        "max_lag": max(lags, default=None),
        "max_lag_s": max(lags_s, default=None),
        "pending": sum(g.pending for g in s.groups),
        "trim_eta_s": finite(
            min((g.seconds_until_trim for g in s.groups), default=None)
        ),
        "archive": m.ArchiveSummary(
            segments=s.archive.segments,
            bytes=s.archive.bytes,
            first_id=s.archive.first_id,
            archived_until=s.archive.archived_until,
            lag_s=s.archive.lag_s,
        ),
    }


def _group(g: GroupStats) -> m.Group:
    return m.Group(
        name=printable(g.name),
        lag=g.lag,
        lag_s=g.lag_s,
        pending=g.pending,
        oldest_pending_age_s=g.oldest_pending_age_s,
        last_delivered_id=g.last_delivered_id,
        trim_eta_s=finite(g.seconds_until_trim),
        consumers=[
            m.Consumer(
                name=printable(c.name),
                pending=c.pending,
                idle_s=c.idle_s,
                inactive_s=c.inactive_s,
            )
            for c in g.consumers
        ],
    )

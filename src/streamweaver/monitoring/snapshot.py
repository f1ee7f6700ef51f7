"""What one collection cycle learned about the streams, groups and archive.

The collector fills these in on an interval; the Prometheus exporter, the JSON
API, the dashboard and ``streamweaver status`` all read them, so a scrape or a
page view never costs a round trip per stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def id_ms(stream_id: str | bytes | None) -> int | None:
    """The millisecond part of a stream ID (``1700000000000-3`` gives 1700000000000)."""
    if stream_id is None:
        return None
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    try:
        return int(text.split("-", 1)[0])
    except ValueError:
        return None


def printable(name: str) -> str:
    """A name safe to encode as UTF-8: bytes that were not UTF-8 become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def age_s(now_ms: int, stream_id: str | bytes | None) -> float | None:
    """Seconds between a stream ID's time and ``now_ms``, never negative."""
    ms = id_ms(stream_id)
    return None if ms is None else max(0.0, (now_ms - ms) / 1000)


@dataclass(slots=True)
class ConsumerStats:
    name: str
    pending: int
    idle_s: float
    inactive_s: float | None = None


@dataclass(slots=True)
class GroupStats:
    name: str
    consumers: list[ConsumerStats]
    pending: int
    last_delivered_id: str
    lag: int | None
    """Entries the group has not read yet; None when Redis cannot tell."""
    lag_s: float | None = None
    """How long the oldest unread entry has waited; 0 when nothing is unread."""
    oldest_pending_age_s: float | None = None
    seconds_until_trim: float = float("inf")
    """When retention would trim the oldest unread entry at the current rate."""


@dataclass(slots=True)
class ArchiveStats:
    segments: int = 0
    bytes: int = 0
    first_id: str | None = None
    archived_until: str | None = None
    """The newest archived ID; everything up to it is in the archive."""
    lag_s: float | None = None
    """Age of the oldest entry in Redis not archived yet; 0 when caught up."""


@dataclass(slots=True)
class StreamStats:
    name: str
    length: int
    entries_added: int
    memory_bytes: int | None
    first_id: str | None
    last_id: str | None
    oldest_age_s: float | None
    newest_age_s: float | None
    dead_letters: int
    groups: list[GroupStats] = field(default_factory=list)
    archive: ArchiveStats = field(default_factory=ArchiveStats)
    rate_per_s: float | None = None
    """Messages added per second since the previous collection."""
    growth_per_s: float | None = None
    """A smoothed ``rate_per_s`` (about a minute), used for forecasts."""


@dataclass(slots=True)
class VolumeStats:
    total_bytes: int
    free_bytes: int


@dataclass(slots=True)
class Snapshot:
    """Everything one collection cycle found; ``ok`` is False if it failed."""

    collected_at_s: float
    duration_s: float
    streams: dict[str, StreamStats] = field(default_factory=dict)
    replay_jobs: dict[str, int] = field(default_factory=dict)
    volume: VolumeStats | None = None
    logical: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Declared partitioned streams: logical name to partition stream names."""
    ok: bool = True
    error: str | None = None

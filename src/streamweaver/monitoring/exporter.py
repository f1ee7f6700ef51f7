"""Prometheus exposition of the latest snapshot, so a scrape never touches Redis.

docs/metrics.md documents every family produced here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from streamweaver.monitoring.snapshot import Snapshot, printable

S = ("stream",)
SG = ("stream", "group")
SGC = ("stream", "group", "consumer")


class SnapshotExporter(Collector):
    """Turns the collector's latest snapshot into metric families."""

    def __init__(self, latest: Callable[[], Snapshot | None], backend: str) -> None:
        self._latest = latest
        self._backend = backend

    def collect(self) -> Iterator[Metric]:
        snapshot = self._latest()
        if snapshot is None:
            return
        yield from _collection(snapshot)
        yield from _streams(snapshot)
        yield from _logical_streams(snapshot)
        yield from _groups(snapshot)
        yield from _archive(snapshot, self._backend)
        yield _replays(snapshot)


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _collection(snapshot: Snapshot) -> Iterator[Metric]:
    stamp = _gauge(
        "streamweaver_collect_timestamp_seconds",
        "Unix time (Redis clock) of the snapshot these metrics come from.",
    )
    stamp.add_metric([], snapshot.collected_at_s)
    duration = _gauge(
        "streamweaver_collect_duration_seconds",
        "How long the collection cycle that made the snapshot took.",
    )
    duration.add_metric([], snapshot.duration_s)
    count = _gauge("streamweaver_streams", "Managed streams found in Redis.")
    count.add_metric([], len(snapshot.streams))
    return iter((stamp, duration, count))


def _streams(snapshot: Snapshot) -> Iterator[Metric]:
    added = CounterMetricFamily(
        "streamweaver_stream_messages_added",
        "Entries ever added to the stream (XINFO STREAM entries-added).",
        labels=list(S),
    )
    length = _gauge("streamweaver_stream_length", "Entries in Redis (XLEN).", S)
    memory = _gauge(
        "streamweaver_stream_memory_bytes",
        "Memory the stream uses in Redis (MEMORY USAGE, sampled).",
        S,
    )
    oldest = _gauge(
        "streamweaver_stream_oldest_entry_age_seconds",
        "Age of the oldest entry still in Redis.",
        S,
    )
    newest = _gauge(
        "streamweaver_stream_newest_entry_age_seconds",
        "Age of the newest entry in Redis.",
        S,
    )
    dead = _gauge(
        "streamweaver_dead_letter_messages",
        "Entries in the stream's dead-letter stream <stream>:dlq.",
        S,
    )
    for stream, s in snapshot.streams.items():
        name = printable(stream)
        added.add_metric([name], s.entries_added)
        length.add_metric([name], s.length)
        dead.add_metric([name], s.dead_letters)
        _maybe(memory, [name], s.memory_bytes)
        _maybe(oldest, [name], s.oldest_age_s)
        _maybe(newest, [name], s.newest_age_s)
    return iter((added, length, memory, oldest, newest, dead))


def _logical_streams(snapshot: Snapshot) -> Iterator[Metric]:
    label = ("logical_stream",)
    partitions = _gauge(
        "streamweaver_logical_stream_partitions",
        "Partitions of a partitioned stream, and how many of them were found.",
        (*label, "found"),
    )
    added = CounterMetricFamily(
        "streamweaver_logical_stream_messages_added",
        "Entries ever added to all partitions of the logical stream.",
        labels=list(label),
    )
    length = _gauge(
        "streamweaver_logical_stream_length", "Entries in Redis, all partitions.", label
    )
    archived = _gauge(
        "streamweaver_logical_stream_archive_bytes",
        "Bytes of archived segments, all partitions.",
        label,
    )
    for logical, names in snapshot.logical.items():
        found = [snapshot.streams[n] for n in names if n in snapshot.streams]
        name = printable(logical)
        partitions.add_metric([name, "false"], len(names) - len(found))
        partitions.add_metric([name, "true"], len(found))
        added.add_metric([name], sum(s.entries_added for s in found))
        length.add_metric([name], sum(s.length for s in found))
        archived.add_metric([name], sum(s.archive.bytes for s in found))
    return iter((partitions, added, length, archived))


def _groups(snapshot: Snapshot) -> Iterator[Metric]:
    lag = _gauge(
        "streamweaver_group_lag_messages", "Entries the group has not read yet.", SG
    )
    lag_s = _gauge(
        "streamweaver_group_lag_seconds",
        "How long the group's oldest unread entry has waited (0 when none).",
        SG,
    )
    pending = _gauge(
        "streamweaver_group_pending_messages",
        "Entries delivered to the group's consumers and not acknowledged.",
        SG,
    )
    oldest_pending = _gauge(
        "streamweaver_group_oldest_pending_age_seconds",
        "Age of the group's oldest pending entry.",
        SG,
    )
    consumers = _gauge(
        "streamweaver_group_consumers", "Consumers registered in the group.", SG
    )
    until_trim = _gauge(
        "streamweaver_group_unread_trim_eta_seconds",
        "Time until retention would trim the group's oldest unread entry "
        "at the current growth rate (+Inf: never).",
        SG,
    )
    idle = _gauge(
        "streamweaver_consumer_idle_seconds",
        "Time since the consumer last attempted to read.",
        SGC,
    )
    consumer_pending = _gauge(
        "streamweaver_consumer_pending_messages",
        "Entries delivered to the consumer and not acknowledged.",
        SGC,
    )
    for stream, s in snapshot.streams.items():
        for g in s.groups:
            labels = [printable(stream), printable(g.name)]
            _maybe(lag, labels, g.lag)
            _maybe(lag_s, labels, g.lag_s)
            pending.add_metric(labels, g.pending)
            _maybe(oldest_pending, labels, g.oldest_pending_age_s)
            consumers.add_metric(labels, len(g.consumers))
            until_trim.add_metric(labels, g.seconds_until_trim)
            for c in g.consumers:
                consumer = [*labels, printable(c.name)]
                idle.add_metric(consumer, c.idle_s)
                consumer_pending.add_metric(consumer, c.pending)
    families = (lag, lag_s, pending, oldest_pending, consumers, until_trim)
    return iter((*families, idle, consumer_pending))


def _archive(snapshot: Snapshot, backend: str) -> Iterator[Metric]:
    size = _gauge(
        "streamweaver_archive_bytes", "Bytes of the stream's archived segments.", S
    )
    segments = _gauge(
        "streamweaver_archive_segments", "Archived segments of the stream.", S
    )
    behind = _gauge(
        "streamweaver_archive_unarchived_age_seconds",
        "Age of the oldest entry in Redis that is not archived (0 when caught up).",
        S,
    )
    for stream, s in snapshot.streams.items():
        name = printable(stream)
        size.add_metric([name], s.archive.bytes)
        segments.add_metric([name], s.archive.segments)
        _maybe(behind, [name], s.archive.lag_s)
    yield from (size, segments, behind)

    if snapshot.volume is not None:
        total = _gauge(
            "streamweaver_archive_volume_size_bytes",
            "Size of the volume that holds the archive.",
            ("backend",),
        )
        free = _gauge(
            "streamweaver_archive_volume_free_bytes",
            "Free bytes on the volume that holds the archive.",
            ("backend",),
        )
        total.add_metric([backend], snapshot.volume.total_bytes)
        free.add_metric([backend], snapshot.volume.free_bytes)
        yield from (total, free)


def _replays(snapshot: Snapshot) -> Metric:
    jobs = _gauge("streamweaver_replay_jobs", "Replay jobs by state.", ("state",))
    for state, count in sorted(snapshot.replay_jobs.items()):
        jobs.add_metric([state], count)
    return jobs


def _maybe(family: GaugeMetricFamily, labels: list[str], value: float | None) -> None:
    if value is not None and not math.isnan(value):
        family.add_metric(labels, value)

"""Every metric the broker itself counts, defined in one place.

These are the metrics that code paths increment as they work (archival,
retention, replay, supervision). Metrics read from Redis (stream length, group
lag, ...) are produced by the collector on an interval, not defined here.
All names follow Prometheus conventions: ``streamweaver_`` prefix, base units,
``_total`` for counters. docs/metrics.md documents each one.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from streamweaver import __version__

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

BUILD_INFO = Info(
    "streamweaver_build", "Version of the running broker.", registry=REGISTRY
)
BUILD_INFO.info({"version": __version__})

UP = Gauge("streamweaver_up", "1 while the broker process runs.", registry=REGISTRY)
REDIS_UP = Gauge(
    "streamweaver_redis_up",
    "1 when Redis answers, 0 during an outage.",
    registry=REGISTRY,
)
STORE_UP = Gauge(
    "streamweaver_store_up",
    "1 when the archive store is writable, 0 during an outage.",
    registry=REGISTRY,
)
TASK_RESTARTS = Counter(
    "streamweaver_task_restarts_total",
    "Times a supervised broker task failed and was restarted.",
    ["task"],
    registry=REGISTRY,
)

ARCHIVED_MESSAGES = Counter(
    "streamweaver_archived_messages_total",
    "Messages written to the archive.",
    ["stream"],
    registry=REGISTRY,
)
ARCHIVED_BYTES = Counter(
    "streamweaver_archived_bytes_total",
    "Bytes of Parquet segments written to the archive.",
    ["stream"],
    registry=REGISTRY,
)
SEGMENTS_WRITTEN = Counter(
    "streamweaver_archive_segments_written_total",
    "Segments written to the archive.",
    ["stream"],
    registry=REGISTRY,
)
ARCHIVE_ERRORS = Counter(
    "streamweaver_archive_errors_total",
    "Failed attempts to archive a segment.",
    ["stream"],
    registry=REGISTRY,
)
ARCHIVE_LAST_SUCCESS = Gauge(
    "streamweaver_archive_last_success_timestamp_seconds",
    "Unix time of the last segment archived for the stream.",
    ["stream"],
    registry=REGISTRY,
)
ARCHIVE_LAG = Gauge(
    "streamweaver_archive_lag_seconds",
    "Age of the oldest entry in Redis that is not archived yet (0 when caught up).",
    ["stream"],
    registry=REGISTRY,
)

TRIMMED_MESSAGES = Counter(
    "streamweaver_trimmed_messages_total",
    "Archived messages removed from Redis by retention, by the limit that applied.",
    ["stream", "reason"],
    registry=REGISTRY,
)
TRIMMED_UNCONSUMED = Counter(
    "streamweaver_trimmed_unconsumed_messages_total",
    "Messages trimmed from Redis before the group had read them.",
    ["stream", "group"],
    registry=REGISTRY,
)

REPLAYED_MESSAGES = Counter(
    "streamweaver_replayed_messages_total",
    "Messages written into Redis by replay jobs.",
    ["stream"],
    registry=REGISTRY,
)

OWNED_STREAMS = Gauge(
    "streamweaver_owned_streams",
    "Streams whose lease this broker instance holds (it archives and trims them).",
    ["instance_id"],
    registry=REGISTRY,
)
STREAM_OWNER = Gauge(
    "streamweaver_stream_owner_info",
    "1 for each stream whose lease this broker instance holds.",
    ["stream", "instance_id"],
    registry=REGISTRY,
)

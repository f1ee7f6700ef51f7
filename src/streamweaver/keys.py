"""Every Redis key the broker owns, built from one prefix.

Per-stream keys carry a hash tag that makes Redis Cluster put them in the same
slot as the stream itself, so a script can touch both atomically:

- a stream without a hash tag, ``orders``, gets ``sw:{orders}:segments``;
- a stream with one, ``orders:p0:{x7}``, gets ``sw:{x7}:segments:orders:p0:{x7}``.

A name with a ``}`` but no valid hash tag cannot share a slot with any key of
ours; such streams work on a single server but not in Redis Cluster.
Discovery skips every key under the prefix: it is reserved for StreamWeaver.
"""

from __future__ import annotations

PREFIX = "sw:"

CONTROL_STREAM = f"{PREFIX}control"
"""The stream through which clients in any language ask the broker for work."""

BROKER_GROUP = "streamweaver-brokers"
"""The consumer group the broker instances read the control stream with."""

REPLAY_JOBS = f"{PREFIX}replay:jobs"
"""Sorted set of replay job IDs, scored by creation time in milliseconds."""

REPLAY_ACTIVE = f"{PREFIX}replay:active"
"""Sorted set of the queued and running replay job IDs, scored like REPLAY_JOBS."""

INSTANCES = f"{PREFIX}instances"
"""Sorted set of live broker instances, scored by heartbeat expiry (ms)."""


def is_internal(key: str | bytes) -> bool:
    """Tell whether a key belongs to StreamWeaver rather than to a user."""
    if isinstance(key, bytes):
        return key.startswith(PREFIX.encode())
    return key.startswith(PREFIX)


def hash_tag(key: str) -> str | None:
    """The part of ``key`` Redis Cluster hashes, if the key has a hash tag."""
    start = key.find("{")
    if start < 0:
        return None
    end = key.find("}", start + 1)
    if end <= start + 1:
        return None
    return key[start + 1 : end]


def _per_stream(stream: str, kind: str) -> str:
    tag = hash_tag(stream)
    if tag is None:
        return f"{PREFIX}{{{stream}}}:{kind}"
    return f"{PREFIX}{{{tag}}}:{kind}:{stream}"


def archive_state(stream: str) -> str:
    """Hash with the archiver's progress for one stream (last archived ID, ...)."""
    return _per_stream(stream, "archive")


def segment_index(stream: str) -> str:
    """Sorted set of one stream's archived segments, scored by first ID time."""
    return _per_stream(stream, "segments")


def stream_lease(stream: str) -> str:
    """The lease that says which broker instance archives and trims a stream."""
    return _per_stream(stream, "lease")


def trim_stats(stream: str) -> str:
    """Hash of counters about what retention trimmed from a stream."""
    return _per_stream(stream, "trimmed")


def group_backfill(stream: str) -> str:
    """Hash of the groups being backfilled from the archive, to their side stream."""
    return _per_stream(stream, "backfill")


def replay_progress(target: str, job_id: str) -> str:
    """Hash with a replay's authoritative cursor, in the slot of its target."""
    return _per_stream(target, f"replay:{job_id}")


def replay_job(job_id: str) -> str:
    """Hash holding one replay job's request, state and progress."""
    return f"{PREFIX}replay:job:{job_id}"


def dead_letter_stream(stream: str) -> str:
    """The stream that receives messages a group gave up on (``<stream>:dlq``)."""
    return f"{stream}:dlq"


def partitions(stream: str) -> str:
    """Hash declaring a logical stream's partitions (count and stream names)."""
    return f"{PREFIX}partitions:{stream}"


PARTITIONED = f"{PREFIX}partitioned"
"""Set of the names of every logical stream declared with partitions."""


def group_members(stream: str, group: str) -> str:
    """Sorted set of a logical stream's live group consumers, scored by expiry (ms)."""
    return f"{_per_stream(stream, 'members')}:{group}"

"""The JSON shapes of the status API; FastAPI derives the OpenAPI schema from them.

Durations are seconds and sizes bytes, as floats or integers with the unit in
the field name. A value Redis or the archive cannot tell is ``null``; a
forecast that never happens is ``null`` too (JSON has no infinity).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str = Field(description="`ok` while the process runs.")


class Check(BaseModel):
    ok: bool
    reason: str | None = Field(None, description="Why the check failed, in words.")


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check] = Field(
        description="One entry per dependency: `redis` and `store`."
    )


class ArchiveSummary(BaseModel):
    segments: int
    bytes: int
    first_id: str | None = Field(None, description="Oldest archived entry ID.")
    archived_until: str | None = Field(
        None, description="Newest archived entry ID; everything up to it is archived."
    )
    lag_s: float | None = Field(
        None, description="Age of the oldest entry in Redis not archived yet."
    )


class StreamSummary(BaseModel):
    name: str
    length: int = Field(description="Entries in Redis.")
    memory_bytes: int | None = Field(description="Memory used in Redis (sampled).")
    entries_added: int = Field(description="Entries ever added.")
    rate_per_s: float | None = Field(
        description="Entries added per second over the last collection interval."
    )
    first_id: str | None
    last_id: str | None
    oldest_age_s: float | None
    newest_age_s: float | None
    dead_letters: int = Field(description="Entries in `<stream>:dlq`.")
    groups: int
    max_lag: int | None = Field(description="Largest group lag in entries.")
    max_lag_s: float | None = Field(
        description="Longest time an unread entry has waited, over all groups."
    )
    pending: int = Field(description="Pending entries over all groups.")
    trim_eta_s: float | None = Field(
        description="Soonest time retention would trim unread entries; "
        "null when it never would at the current rate."
    )
    archive: ArchiveSummary


class Volume(BaseModel):
    total_bytes: int
    free_bytes: int


class Overview(BaseModel):
    collected_at_s: float | None = Field(
        description="Unix time of the snapshot; null before the first collection."
    )
    collect_duration_s: float | None
    collect_error: str | None = Field(
        None, description="Why the last collection failed, if it did."
    )
    instance_id: str
    version: str
    redis_up: bool
    store_up: bool
    volume: Volume | None
    replay_jobs: dict[str, int] = Field(description="Replay jobs by state.")
    streams: list[StreamSummary]


class Consumer(BaseModel):
    name: str
    pending: int
    idle_s: float
    inactive_s: float | None


class Group(BaseModel):
    name: str
    lag: int | None
    lag_s: float | None
    pending: int
    oldest_pending_age_s: float | None
    last_delivered_id: str
    trim_eta_s: float | None
    consumers: list[Consumer]


class Retention(BaseModel):
    policy: str
    max_age_s: float
    max_size_bytes: int
    max_length: int | None
    hard_max_length: int | None
    protect_unacked: bool


class StreamDetail(StreamSummary):
    group_details: list[Group]
    retention: Retention


class Segment(BaseModel):
    first_id: str
    last_id: str
    messages: int
    bytes: int
    path: str = Field(description="Object name in the store.")
    created_ms: int = Field(description="When the segment was written (Unix ms).")


class Segments(BaseModel):
    stream: str
    segments: list[Segment]


class ReplayJob(BaseModel):
    id: str
    state: str
    stream: str | None = None
    fields: dict[str, str] = Field(
        description="Every field of the job as stored: request, progress, errors."
    )


class ReplayJobs(BaseModel):
    jobs: list[ReplayJob]


class ReplayStart(BaseModel):
    """A replay request; the same fields as on the control stream."""

    stream: str = Field(min_length=1, description="The stream to replay.")
    from_: str | None = Field(
        None, alias="from", description="First ID or time; default: the beginning."
    )
    to: str | None = Field(None, description="Last ID or time; default: the end.")
    target: str | None = Field(
        None, description="Stream to write to; default `<stream>:replay:<id>`."
    )
    mode: Literal["preserve", "append"] | None = None
    pace: str | None = None
    rate: str | None = None
    batch_size: str | None = None
    target_ttl: str | None = None
    id: str | None = Field(None, description="Job ID to use; generated when omitted.")


class Problem(BaseModel):
    detail: str = Field(description="What went wrong, in words.")
    code: str | None = Field(
        None, description="For a refused replay request, a short reason code."
    )


class InstanceOwnership(BaseModel):
    instance_id: str
    live: bool = Field(
        description="Whether its heartbeat holds; false while a lease of an "
        "instance that stopped heartbeating has not expired yet."
    )
    heartbeat_expires_ms: int | None = Field(
        description="When its heartbeat runs out, Unix ms in Redis server time."
    )
    owned_streams: int = Field(description="How many streams it holds leases on.")
    streams: list[str] = Field(description="The streams it archives and trims.")


class Instances(BaseModel):
    instance_id: str = Field(description="The broker instance that answered.")
    instances: list[InstanceOwnership] = Field(
        description="Every broker instance sharing the streams, by ID."
    )
    unowned_streams: list[str] = Field(
        description="Managed streams without a live lease (for up to "
        "`broker.lease_ttl` after their owner died, or before the first round)."
    )

"""The supervised retention task: trim Redis, and expire old archive segments.

Streams are the ones this instance owns (``ctx.ownership``), each trimmed
under its lease epoch. With ``archive.max_age`` set, segments whose last entry
is older are dropped from the index first and then from the store, so a reader
never finds an index entry whose object is gone.
"""

from __future__ import annotations

import logging
import time

from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.rawread import raw_client
from streamweaver.broker.context import BrokerContext
from streamweaver.broker.supervisor import pause
from streamweaver.retention.ids import StreamId, parse_id
from streamweaver.retention.trimmer import Trimmer

log = logging.getLogger(__name__)

EXPIRY_INTERVAL_S = 60.0


def owned_streams(ctx: BrokerContext) -> dict[str, int | None]:
    """The streams this instance works on, with their lease epochs."""
    ownership = getattr(ctx, "ownership", None)
    if ownership is None:
        return dict.fromkeys(ctx.catalog.streams)
    return dict(ownership.owned)


def install_retention(ctx: BrokerContext) -> None:
    """Run retention in the broker; without an archive store nothing is trimmed."""
    if ctx.store is None:
        log.warning(
            "No archive store is configured; retention trims nothing, because "
            "only archived entries ever leave Redis."
        )
        return
    index = SegmentIndex(ctx.redis, ctx.store)
    ctx.supervisor.add("retention", lambda: run_retention(ctx, index))


async def run_retention(ctx: BrokerContext, index: SegmentIndex) -> None:
    """Trim owned streams every ``retention.check_interval``, forever."""
    client = raw_client(ctx.config.redis)

    async def archived_until(stream: str) -> StreamId | None:
        until = await index.archived_until(stream)
        return parse_id(until) if until else None

    trimmer = Trimmer(ctx.config, client, archived_until)
    interval_s = ctx.config.retention.check_interval_s
    expiry_interval_s = min(EXPIRY_INTERVAL_S, max(interval_s, 1.0) * 10)
    next_expiry = time.monotonic()
    try:
        while True:
            streams = owned_streams(ctx)
            await trimmer.check_all(streams)
            if ctx.config.archive.max_age_s and time.monotonic() >= next_expiry:
                await expire_segments(index, streams, ctx.config)
                next_expiry = time.monotonic() + expiry_interval_s
            await pause(interval_s)
    finally:
        await client.aclose()


async def expire_segments(index, streams, config) -> int:
    """Remove segments whose last entry is older than ``archive.max_age``."""
    cutoff_ms = int((time.time() - config.archive.max_age_s) * 1000)
    removed = 0
    for stream in streams:
        old = [m for m in await index.segments(stream) if m.last_ms < cutoff_ms]
        if not old:
            continue
        await index.remove(old)  # the index first, then the objects
        removed += len(old)
        log.info(
            "Removed %d archive segment(s) of %r older than archive.max_age.",
            len(old),
            stream,
        )
    return removed

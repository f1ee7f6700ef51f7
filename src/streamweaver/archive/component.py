"""Archival in the broker: the archiver task over the streams this instance owns."""

from __future__ import annotations

import logging

from streamweaver.archive.archiver import Archiver
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.rawread import raw_client
from streamweaver.broker.context import BrokerContext
from streamweaver.retention.task import owned_streams

log = logging.getLogger(__name__)


def install_archiver(ctx: BrokerContext) -> None:
    """Run the archiver in the broker, unless the broker has no archive store."""
    if ctx.store is None:
        log.warning("No archive store is configured; nothing will be archived.")
        return
    store = ctx.store

    async def run() -> None:
        client = raw_client(ctx.config.redis)
        try:
            index = SegmentIndex(ctx.redis, store)
            ownership = getattr(ctx, "ownership", None)
            archiver = Archiver(
                ctx.config.archive,
                client,
                store,
                index,
                outages=ctx.outages,
                working_on=ownership.working_on if ownership else None,
            )
            await archiver.run(lambda: owned_streams(ctx))
        finally:
            await client.aclose()

    ctx.supervisor.add("archiver", run)

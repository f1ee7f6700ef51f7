"""An instance that cannot renew its leases works on until they expire, then stops."""

from __future__ import annotations

import asyncio
import contextlib
import time

import redis.asyncio

from streamweaver.coordination.leases import Leases
from streamweaver.coordination.ownership import Ownership
from streamweaver.embedded import EmbeddedServer

from waiting import eventually

STREAMS = ["orders", "payments"]
LEASE_TTL_S = 1.5


async def test_losing_redis_keeps_the_streams_for_the_lease_ttl_and_no_longer(
    tmp_path,
):
    server = EmbeddedServer(tmp_path / "valkey", appendonly=False).start()
    client = redis.asyncio.Redis(
        host=server.host, port=server.port, socket_connect_timeout=0.2
    )
    ownership = Ownership(Leases(client, "alone", LEASE_TTL_S), lease_ttl_s=LEASE_TTL_S)
    task = asyncio.create_task(ownership.run(lambda: STREAMS, 0.05))
    try:
        await eventually(lambda: sorted(ownership.owned) == STREAMS, 10)
        server.kill()
        lost_redis_at = time.monotonic()

        await eventually(lambda: not ownership.owned, 10)
        kept_s = time.monotonic() - lost_redis_at
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()
        server.kill()

    assert not task.cancelled() or task.done()
    # Kept while the leases could still be valid; dropped within a round after.
    assert 0.5 * LEASE_TTL_S < kept_s < LEASE_TTL_S + 1.0


async def test_a_stream_is_handed_over_only_once_its_running_work_is_done(ar):
    first = Ownership(Leases(ar, "first", 30), lease_ttl_s=30)
    second = Ownership(Leases(ar, "second", 30), lease_ttl_s=30)
    await first.rebalance(STREAMS)
    await second.rebalance(STREAMS)  # joins: one stream should move to it

    with first.working_on("orders") as owned_a, first.working_on("payments") as owned_b:
        assert owned_a
        assert owned_b
        await first.rebalance(STREAMS)
        moving = next(s for s in STREAMS if s not in first.owned)
        await second.rebalance(STREAMS)
        assert moving not in second.owned  # still held while first works on it
        assert (await ar.hget(f"sw:{{{moving}}}:lease", "owner")) == b"first"

    with first.working_on(moving) as still_owned:
        assert not still_owned  # new work on a stream being handed over is skipped
    await first.rebalance(STREAMS)
    await second.rebalance(STREAMS)

    assert set(first.owned) | set(second.owned) == set(STREAMS)
    assert moving in second.owned

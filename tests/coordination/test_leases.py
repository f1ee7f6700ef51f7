"""Leases and ownership against a real server."""

import asyncio

from streamweaver import keys
from streamweaver.coordination.leases import Leases
from streamweaver.coordination.ownership import Ownership


async def test_a_lease_has_one_owner_until_it_expires(ar):
    first = Leases(ar, "first", ttl_s=0.3)
    second = Leases(ar, "second", ttl_s=0.3)

    assert await first.acquire(["orders"]) == {"orders": 1}
    assert await second.acquire(["orders"]) == {}
    assert await first.acquire(["orders"]) == {"orders": 1}

    await asyncio.sleep(0.4)  # let the lease run out, as a dead owner's would
    assert await second.acquire(["orders"]) == {"orders": 2}
    assert await first.acquire(["orders"]) == {}


async def test_a_released_lease_is_taken_at_once_with_a_higher_epoch(ar):
    first = Leases(ar, "first", ttl_s=30)
    second = Leases(ar, "second", ttl_s=30)
    await first.acquire(["orders"])

    await first.release(["orders"])

    assert await second.acquire(["orders"]) == {"orders": 2}
    lease = await ar.hgetall(keys.stream_lease("orders"))
    assert lease[b"owner"] == b"second"


async def test_the_epoch_survives_the_lease_expiring(ar):
    owner = Leases(ar, "one", ttl_s=0.05)
    await owner.acquire(["s"])
    await asyncio.sleep(0.1)

    assert await owner.acquire(["s"]) == {"s": 2}


async def test_heartbeats_list_live_instances_and_forget_dead_ones(ar):
    alive = Leases(ar, "alive", ttl_s=30)
    dying = Leases(ar, "dying", ttl_s=30)

    await dying.heartbeat(0.05)
    assert await alive.heartbeat(30) == ["alive", "dying"]
    await asyncio.sleep(0.1)

    assert await alive.heartbeat(30) == ["alive"]


async def test_three_instances_share_thirty_streams_and_survivors_take_over(ar):
    streams = [f"stream-{i}" for i in range(30)]
    members = [
        Ownership(Leases(ar, f"i{n}", ttl_s=0.5), lease_ttl_s=0.5) for n in range(3)
    ]

    for _ in range(2):  # the first round learns the membership, the second settles
        for member in members:
            await member.rebalance(streams)
    assert sorted(len(m.owned) for m in members) == [10, 10, 10]
    assert sorted(s for m in members for s in m.owned) == sorted(streams)

    survivors = members[:2]
    await asyncio.sleep(0.6)  # the third instance died: its heartbeat and leases lapse
    for _ in range(2):
        for member in survivors:
            await member.rebalance(streams)

    assert sorted(len(m.owned) for m in survivors) == [15, 15]
    assert sorted(s for m in survivors for s in m.owned) == sorted(streams)

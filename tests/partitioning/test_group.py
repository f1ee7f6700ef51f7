"""A consumer group over a logical stream: partitions spread and move with members."""

import asyncio
import threading
from collections import Counter

import pytest

from streamweaver.client import AsyncClient, Client
from streamweaver.client._partitioned_membership import MembershipOptions
from streamweaver.errors import ConfigError

from waiting import eventually, wait_for

FAST = MembershipOptions(heartbeat_ms=100, member_ttl_ms=1000)
OPTIONS = {"block_ms": 100, "claim_idle_ms": 300, "membership": FAST}


class Member:
    """One consumer of the group, iterating in its own task."""

    def __init__(self, client, name, seen, *, ack=True):
        self.name = name
        self.ack = ack
        self.consumer = client.consume("orders", "g", name, start="0", **OPTIONS)
        self.task = asyncio.create_task(self._run(seen))
        self.unacked = []

    async def _run(self, seen):
        async with self.consumer:
            async for message in self.consumer:
                seen.append((self.name, message.stream, message.id))
                if self.ack:
                    await message.ack()
                else:
                    self.unacked.append((message.stream, message.id))

    async def leave(self):
        self.consumer.stop()
        await asyncio.wait_for(self.task, 10)

    def load(self):
        return len(self.consumer.partitions)


async def produce(client, count, start=0):
    for n in range(start, start + count):
        await client.produce("orders", {"n": n}, key=f"k{n % 12}")


async def produce_until(client, start, condition):
    """Produce while the group rebalances; how many messages that took."""
    count = 0
    while not condition():
        await produce(client, 5, start=start + count)
        count += 5
        await asyncio.sleep(0.01)  # pace the producer, not a wait for the group
    return count


def stored(r, partitioning):
    return {
        (name, entry_id.decode())
        for name in partitioning.names
        for entry_id, _ in r.xrange(name)
    }


def pending(r, partitioning):
    return sum(r.xpending(name, "g")["pending"] for name in partitioning.names)


async def test_partitions_move_with_members_and_each_message_is_handled_once(
    redis_server, r
):
    seen = []
    async with AsyncClient(redis_server.url) as client:
        partitioning = await client.declare_partitions("orders", 6)
        first = [Member(client, f"c{n}", seen) for n in (1, 2)]
        await eventually(lambda: sorted(m.load() for m in first) == [3, 3])
        await produce(client, 300)

        third = Member(client, "c3", seen)
        members = [*first, third]
        total = 300 + await produce_until(
            client, 300, lambda: sorted(m.load() for m in members) == [2, 2, 2]
        )
        await produce(client, 300, start=total)
        total += 300
        await eventually(lambda: len(seen) == total)

        await third.leave()
        total += await produce_until(
            client, total, lambda: sorted(m.load() for m in first) == [3, 3]
        )
        await produce(client, 300, start=total)
        total += 300
        await eventually(lambda: len(seen) == total)
        for member in first:
            await member.leave()

    handled = Counter((stream, entry_id) for _, stream, entry_id in seen)
    assert set(handled) == stored(r, partitioning)
    assert set(handled.values()) == {1}
    assert pending(r, partitioning) == 0
    assert {name for name, _, _ in seen} == {"c1", "c2", "c3"}


async def test_a_stopped_consumers_pending_messages_are_taken_over(redis_server, r):
    seen = []
    async with AsyncClient(redis_server.url) as client:
        partitioning = await client.declare_partitions("orders", 6)
        keeper = Member(client, "keeper", seen)
        await eventually(lambda: keeper.load() == 6)
        careless = Member(client, "careless", seen, ack=False)
        await eventually(lambda: (keeper.load(), careless.load()) == (3, 3))
        await produce(client, 120)
        await eventually(lambda: len(seen) == 120)
        assert careless.unacked

        await careless.leave()
        await eventually(lambda: keeper.load() == 6)
        await eventually(lambda: len(seen) == 120 + len(careless.unacked))
        await keeper.leave()

    taken_over = [(s, i) for name, s, i in seen if name == "keeper"]
    assert set(careless.unacked) <= set(taken_over)
    assert pending(r, partitioning) == 0


def test_the_synchronous_consumers_split_the_partitions(redis_server, r):
    seen = []
    lock = threading.Lock()
    with Client(redis_server.url) as client:
        partitioning = client.declare_partitions("orders", 6)
        consumers = [
            client.consume("orders", "g", f"c{n}", start="0", **OPTIONS) for n in (1, 2)
        ]

        def run(consumer):
            with consumer:
                for message in consumer:
                    with lock:
                        seen.append((consumer.name, message.stream, message.id))
                    message.ack()

        threads = [threading.Thread(target=run, args=(c,)) for c in consumers]
        for thread in threads:
            thread.start()
        wait_for(lambda: sorted(len(c.partitions) for c in consumers) == [3, 3])
        client.produce_batch("orders", [{"n": n} for n in range(200)])
        wait_for(lambda: len(seen) == 200)
        client.stop()
        for thread in threads:
            thread.join(10)

    handled = Counter((stream, entry_id) for _, stream, entry_id in seen)
    assert set(handled) == stored(r, partitioning)
    assert set(handled.values()) == {1}
    by_consumer = {
        name: {stream for n, stream, _ in seen if n == name} for name in ("c1", "c2")
    }
    assert len(by_consumer["c1"]) == len(by_consumer["c2"]) == 3
    assert not by_consumer["c1"] & by_consumer["c2"]


def test_membership_options_are_checked():
    with pytest.raises(ConfigError, match="must be longer than heartbeat_ms"):
        MembershipOptions(heartbeat_ms=1000, member_ttl_ms=500)


async def test_an_asyncio_consumer_finds_a_declaration_made_by_another_client(
    redis_server, r
):
    with Client(redis_server.url) as other:
        partitioning = other.declare_partitions("orders", 3)
        other.produce_batch("orders", [{"n": n} for n in range(30)])
    seen, owned = [], ()
    async with AsyncClient(redis_server.url) as client:
        consumer = client.consume("orders", "g", "late", start="0", **OPTIONS)
        async with consumer:
            async for message in consumer:
                seen.append((message.stream, message.id))
                await message.ack()
                if len(seen) == 30:
                    owned = consumer.partitions
                    client.stop()

    assert owned == partitioning.names

    assert set(seen) == stored(r, partitioning)

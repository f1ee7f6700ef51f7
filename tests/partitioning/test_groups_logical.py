"""Group administration, pending entries and tail on a logical stream's name."""

import asyncio
import threading
import time
from itertools import islice

import pytest

from streamweaver import keys
from streamweaver.client import AsyncClient, Client
from streamweaver.client._partitioned_membership import MembershipOptions
from streamweaver.client.ids import parse_id
from streamweaver.errors import GroupExistsError, GroupNotFoundError

from waiting import eventually

FAST = MembershipOptions(heartbeat_ms=100, member_ttl_ms=1000)


def groups_of(r, partitioning):
    return [
        [group["name"].decode() for group in r.xinfo_groups(name)]
        for name in partitioning.names
    ]


def in_time_order(entries, partitioning):
    """(stream, ID) pairs as a merge by ID, then partition number, orders them."""
    index = {name: n for n, name in enumerate(partitioning.names)}
    pairs = [(stream, entry_id) for stream, entry_id in entries]
    return sorted(pairs, key=lambda pair: (parse_id(pair[1]), index[pair[0]]))


def deliver_without_ack(r, partitioning, group, consumer):
    """Read every partition as ``consumer`` of ``group``; nothing is acked."""
    read = r.xreadgroup(group, consumer, dict.fromkeys(partitioning.names, ">"))
    return [
        (name.decode(), entry_id.decode())
        for name, entries in read
        for entry_id, _ in entries
    ]


def stored(r, partitioning):
    """Every (partition, ID) of a logical stream, in time order."""
    pairs = [
        (name, entry_id.decode())
        for name in partitioning.names
        for entry_id, _ in r.xrange(name)
    ]
    return in_time_order(pairs, partitioning)


def test_a_group_is_created_on_every_partition_and_not_on_the_logical_name(
    redis_server, r
):
    with Client(redis_server.url) as client:
        partitioning = client.declare_partitions("orders", 4)

        assert client.create_group("orders", "g", "0") is True

    assert groups_of(r, partitioning) == [["g"]] * 4
    assert r.exists("orders") == 0


def test_a_group_that_exists_everywhere_is_refused_unless_allowed(redis_server, r):
    with Client(redis_server.url) as client:
        client.declare_partitions("orders", 3)
        client.create_group("orders", "g")

        with pytest.raises(GroupExistsError, match="every partition") as caught:
            client.create_group("orders", "g")
        assert client.create_group("orders", "g", exist_ok=True) is False
    assert (caught.value.stream, caught.value.group) == ("orders", "g")


def test_a_group_missing_on_some_partitions_is_completed(redis_server, r):
    with Client(redis_server.url) as client:
        partitioning = client.declare_partitions("orders", 3)
        client.produce_batch("orders", [{"n": n} for n in range(6)])
        client.create_group("orders", "g", "$")
        kept, lost = partitioning.names[0], partitioning.names[1]
        r.xgroup_destroy(lost, "g")

        assert client.create_group("orders", "g", "0") is True

    assert groups_of(r, partitioning) == [["g"]] * 3
    positions = {g["name"]: g["last-delivered-id"] for g in r.xinfo_groups(kept)}
    assert positions[b"g"] == r.xrevrange(kept, count=1)[0][0]  # still at its end
    assert r.xinfo_groups(lost)[0]["last-delivered-id"] == b"0-0"


def test_deleting_a_group_removes_it_from_every_partition_and_its_members(
    redis_server, r
):
    with Client(redis_server.url) as client:
        partitioning = client.declare_partitions("orders", 3)
        client.create_group("orders", "g")
        client.create_group("orders", "other")
        members = keys.group_members("orders", "g")
        # what a consumer that crashed leaves behind
        r.zadd(members, {"crashed": time.time() * 1000 + 60_000})

        assert client.delete_group("orders", "g") is True
        assert client.delete_group("orders", "g") is False

    assert groups_of(r, partitioning) == [["other"]] * 3
    assert r.exists(members) == 0


def test_a_group_on_partitions_never_written_deletes_cleanly(redis_server, r):
    with Client(redis_server.url) as client:
        client.declare_partitions("orders", 3)

        assert client.delete_group("orders", "g") is False


def test_pending_merges_the_partitions_entries_by_time_and_names_each_partition(
    redis_server, r
):
    with Client(redis_server.url) as client:
        partitioning = client.declare_partitions("orders", 3)
        client.create_group("orders", "g", "0")
        for n in range(9):  # one by one, so IDs of partitions interleave in time
            client.produce("orders", {"n": n})
        delivered = deliver_without_ack(r, partitioning, "g", "c1")

        entries = client.pending("orders", "g")
        first = client.pending("orders", "g", count=4)
        nobodys = client.pending("orders", "g", consumer="nobody")
        with pytest.raises(GroupNotFoundError, match="any partition"):
            client.pending("orders", "missing")

    expected = in_time_order(delivered, partitioning)
    assert [(e.stream, e.id) for e in entries] == expected
    assert len({e.stream for e in entries}) == 3
    assert {e.consumer for e in entries} == {"c1"}
    assert [(e.stream, e.id) for e in first] == expected[:4]
    assert nobodys == []


def test_pending_on_a_plain_stream_names_the_stream(redis_server, r):
    with Client(redis_server.url) as client:
        client.create_group("plain", "g", "0")
        client.produce("plain", {"n": 1})
        r.xreadgroup("g", "c", {"plain": ">"})

        (entry,) = client.pending("plain", "g")

    assert entry.stream == "plain"


def test_a_tail_yields_each_new_message_of_every_partition_once(redis_server, r):
    with Client(redis_server.url) as client:
        partitioning = client.declare_partitions("orders", 3)
        client.produce_batch("orders", [{"n": "old"}] * 3)
        old = stored(r, partitioning)
        tail = client.tail("orders", block_ms=50)
        client.produce_batch("orders", [{"n": n} for n in range(12)])
        later = threading.Timer(0.05, client.produce, ("orders", {"n": "later"}))
        later.start()
        give_up = threading.Timer(10, client.stop)  # a failing test ends, too
        give_up.start()

        seen = [(m.stream, m.id, m.fields["n"]) for m in islice(tail, 13)]
        give_up.cancel()
        later.join()

    new = [pair for pair in stored(r, partitioning) if pair not in old]
    assert len(new) == 13
    assert sorted((s, i) for s, i, _ in seen) == sorted(new)
    assert {s for s, _, _ in seen} == set(partitioning.names)
    for name in partitioning.names:
        ids = [parse_id(i) for s, i, _ in seen if s == name]
        assert ids == sorted(ids)


def test_a_tail_from_a_position_starts_there_on_every_partition(redis_server, r):
    with Client(redis_server.url) as client:
        partitioning = client.declare_partitions("orders", 3)
        client.produce_batch("orders", [{"n": n} for n in range(6)])
        tail = client.tail("orders", start="0", block_ms=50)

        seen = [(m.stream, m.id) for m in islice(tail, 6)]
        client.stop()

    assert seen == stored(r, partitioning)


async def test_the_asyncio_client_manages_a_logical_group(redis_server, r):
    async with AsyncClient(redis_server.url) as client:
        partitioning = await client.declare_partitions("orders", 3)

        assert await client.create_group("orders", "g", "0") is True
        assert await client.create_group("orders", "g", exist_ok=True) is False
        with pytest.raises(GroupExistsError):
            await client.create_group("orders", "g")
        assert groups_of(r, partitioning) == [["g"]] * 3
        assert r.exists("orders") == 0

        assert await client.delete_group("orders", "g") is True
        assert groups_of(r, partitioning) == [[]] * 3


async def test_the_asyncio_client_lists_what_its_consumer_left_unacked(redis_server, r):
    delivered = []
    async with AsyncClient(redis_server.url) as client:
        partitioning = await client.declare_partitions("orders", 3)
        for n in range(9):
            await client.produce("orders", {"n": n})
        consumer = client.consume(
            "orders", "g", "c1", start="0", block_ms=50, membership=FAST
        )
        async with consumer:
            async for message in consumer:
                delivered.append((message.stream, message.id))
                if len(delivered) == 9:
                    consumer.stop()

        entries = await client.pending("orders", "g")

    assert [(e.stream, e.id) for e in entries] == in_time_order(delivered, partitioning)
    assert len({e.stream for e in entries}) == 3


async def test_the_asyncio_tail_follows_every_partition(redis_server, r):
    async with AsyncClient(redis_server.url) as client:
        partitioning = await client.declare_partitions("orders", 3)
        await client.produce("orders", {"n": "old"})
        tail = client.tail("orders", block_ms=50)
        first = asyncio.ensure_future(anext(tail))
        await eventually(lambda: _blocked(r))  # it has found where each ends
        produced = await client.produce_batch("orders", [{"n": n} for n in range(9)])

        seen = [await first]
        seen += [await asyncio.wait_for(anext(tail), 10) for _ in range(8)]
        client.stop()

    assert sorted(m.id for m in seen) == sorted(produced)
    assert {m.stream for m in seen} == set(partitioning.names)
    for name in partitioning.names:
        ids = [parse_id(m.id) for m in seen if m.stream == name]
        assert ids == sorted(ids)


def _blocked(r):
    """Whether some client waits in a blocking XREAD."""
    return any(c.get("cmd") == "xread" for c in r.client_list())

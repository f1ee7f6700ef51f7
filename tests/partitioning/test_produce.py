"""Producing to a logical stream: keyed routing, order per key, round-robin."""

import pytest

from streamweaver.client import AsyncClient, Client
from streamweaver.client.headers import KEY
from streamweaver.errors import EncodingError, StreamError
from streamweaver.partitioning import partition_index


@pytest.fixture
def client(redis_server, r):
    with Client(redis_server.url) as running:
        yield running


def entries(r, name):
    return [
        (entry_id.decode(), {k.decode(): v.decode() for k, v in fields.items()})
        for entry_id, fields in r.xrange(name)
    ]


def test_messages_with_a_key_go_to_its_partition_in_order(client, r):
    partitioning = client.declare_partitions("orders", 6)
    for n in range(120):
        client.produce("orders", {"n": n}, key=f"customer-{n % 10}")

    for index, name in enumerate(partitioning.names):
        for _, fields in entries(r, name):
            assert partition_index(fields[KEY], 6) == index
    for customer in range(10):
        key = f"customer-{customer}"
        name = partitioning.for_key(key)
        seen = [int(f["n"]) for _, f in entries(r, name) if f[KEY] == key]
        assert seen == list(range(customer, 120, 10))
    assert r.exists("orders") == 0


def test_messages_without_a_key_go_round_robin(client, r):
    partitioning = client.declare_partitions("orders", 6)
    for n in range(30):
        client.produce("orders", {"n": n})
    client.produce_batch("orders", [{"n": n} for n in range(30, 90)])

    assert [r.xlen(name) for name in partitioning.names] == [15] * 6
    assert all(KEY not in f for name in partitioning.names for _, f in entries(r, name))


def test_a_batch_routes_each_message_by_its_own_key(client, r):
    partitioning = client.declare_partitions("orders", 4)
    keys = [f"k{n % 7}" for n in range(70)]
    ids = client.produce_batch("orders", [{"n": str(n)} for n in range(70)], keys=keys)

    assert len(ids) == 70
    for n, key in enumerate(keys):
        stored = dict(entries(r, partitioning.for_key(key)))
        assert stored[ids[n]] == {"n": str(n), KEY: key}


def test_a_batch_with_one_key_per_message_must_match_in_length(client):
    client.declare_partitions("orders", 4)

    with pytest.raises(StreamError, match="keys has 2 items for 3 messages"):
        client.produce_batch("orders", [{"n": 1}] * 3, keys=["a", "b"])


def test_a_plain_stream_keeps_working_as_before(client, r):
    client.declare_partitions("orders", 3)
    client.produce("audit", {"n": "1"})
    client.produce("audit", {"n": "2"}, key="user-1")
    client.produce_batch("audit", [{"n": "3"}, {"n": "4"}])

    stored = [fields for _, fields in entries(r, "audit")]
    assert stored == [{"n": "1"}, {"n": "2", KEY: "user-1"}, {"n": "3"}, {"n": "4"}]


def test_a_declaration_made_elsewhere_is_seen_after_a_refresh(client, redis_server, r):
    client.produce("orders", {"n": 0})  # caches "not partitioned"
    with Client(redis_server.url) as other:
        partitioning = other.declare_partitions("orders", 2)

    client.produce("orders", {"n": 1})
    client.refresh_partitions()
    client.produce("orders", {"n": 2}, key="k")

    assert r.xlen("orders") == 2
    assert r.xlen(partitioning.for_key("k")) == 1


def test_changing_the_partition_count_is_refused(client):
    client.declare_partitions("orders", 3)

    with pytest.raises(StreamError, match="already has 3 partitions"):
        client.declare_partitions("orders", 4)


def test_a_key_that_is_not_text_is_refused(client):
    client.declare_partitions("orders", 3)

    with pytest.raises(EncodingError, match="UTF-8"):
        client.produce("orders", {"n": 1}, key=b"\xff\xfe")


async def test_the_asyncio_client_routes_the_same_way(redis_server, r):
    async with AsyncClient(redis_server.url) as client:
        partitioning = await client.declare_partitions("orders", 5)
        for n in range(50):
            await client.produce("orders", {"n": n}, key=f"user-{n % 5}")
        await client.produce_batch("orders", [{"n": n} for n in range(50, 60)])

    for user in range(5):
        key = f"user-{user}"
        seen = [
            int(f["n"])
            for _, f in entries(r, partitioning.for_key(key))
            if f.get(KEY) == key
        ]
        assert seen == list(range(user, 50, 5))
    assert sum(r.xlen(name) for name in partitioning.names) == 60

"""Reading a logical stream: partitions merged by time, both tiers."""

import asyncio

import pytest

from replay.helpers import archive
from streamweaver.client import AsyncClient, Client
from streamweaver.client.ids import parse_id
from streamweaver.errors import StreamError


def merged_order(r, partitioning):
    """Every (ID, partition, stream) of the partitions, as a merge must order them."""
    return sorted(
        (parse_id(entry_id.decode()), index, name)
        for index, name in enumerate(partitioning.names)
        for entry_id, _ in r.xrange(name)
    )


async def produce_history(config, partitions=4, count=400):
    """A logical stream whose partitions are archived and partly trimmed."""
    async with AsyncClient.from_config(config) as client:
        partitioning = await client.declare_partitions("orders", partitions)
        for start in range(0, count, 50):
            await client.produce_batch(
                "orders",
                [{"n": n} for n in range(start, start + 50)],
                keys=[f"k{n % 9}" for n in range(start, start + 50)],
            )
    return partitioning


async def test_a_logical_read_merges_the_partitions_across_both_tiers(
    ar, r, make_config
):
    config = make_config()
    partitioning = await produce_history(config)
    expected = [(str(i), name) for i, _, name in merged_order(r, partitioning)]
    for name in partitioning.names[:3]:
        await archive(config, name, trim_keep=20)
    assert sum(r.xlen(name) for name in partitioning.names) < 400

    with Client.from_config(config) as client:
        read = await asyncio.to_thread(lambda: list(client.read("orders")))
    async with AsyncClient.from_config(config) as client:
        read_async = [m async for m in client.read("orders", batch_size=64)]
        capped = [m.id async for m in client.read("orders", count=7)]

    assert [(m.id, m.stream) for m in read] == expected
    assert [(m.id, m.stream) for m in read_async] == expected
    assert capped == [i for i, _ in expected[:7]]
    by_key = {}
    for message in read:
        by_key.setdefault(message.headers["sw:key"], []).append(message.fields["n"])
    assert all(ns == sorted(ns) for ns in by_key.values())


async def test_following_a_logical_stream_is_refused(ar, make_config):
    async with AsyncClient.from_config(make_config()) as client:
        await client.declare_partitions("orders", 2)
        with pytest.raises(StreamError, match="follow is not supported"):
            _ = [m async for m in client.read("orders", follow=True)]

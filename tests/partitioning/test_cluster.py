"""Partitioned streams on a 3-primary Redis Cluster (one cluster for the module)."""

import asyncio
from collections import Counter

import pytest
import redis

from replay.helpers import archive
from streamweaver.broker.service import Broker
from streamweaver.client import AsyncClient, Client
from streamweaver.client._partitioned_membership import MembershipOptions
from streamweaver.client.headers import KEY, ORIGIN_ID
from streamweaver.client.ids import parse_id
from streamweaver.config import config_from_mapping
from streamweaver.embedded.cluster import EmbeddedCluster
from streamweaver.replay.component import install_replay
from streamweaver.storage import open_store

from waiting import eventually

FAST = MembershipOptions(heartbeat_ms=100, member_ttl_ms=1000)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = EmbeddedCluster(tmp_path_factory.mktemp("cluster"), primaries=3).start()
    yield running
    for node in running.nodes:
        node.kill()  # a graceful stop of a whole cluster takes seconds per node


@pytest.fixture
def config(cluster, tmp_path):
    return config_from_mapping(
        {
            "redis": {"nodes": cluster.startup_nodes},
            "storage": {"type": "local", "local": {"path": str(tmp_path / "archive")}},
            "monitoring": {"enabled": False},
        },
        source="test",
    )


@pytest.fixture
def rc(cluster):
    client = redis.RedisCluster.from_url(cluster.url)
    yield client
    client.close()


def test_partitions_are_spread_over_the_shards(cluster, config):
    with Client.from_config(config) as client:
        partitioning = client.declare_partitions("spread", 6)

    ports = Counter(cluster.primary_for(name).port for name in partitioning.names)
    assert sorted(ports.values()) == [2, 2, 2]


def test_keyed_messages_keep_their_order_per_key_in_the_cluster(config, rc):
    with Client.from_config(config) as client:
        partitioning = client.declare_partitions("keyed", 6)
        for start in range(0, 300, 100):
            client.produce_batch(
                "keyed",
                [{"n": str(n)} for n in range(start, start + 100)],
                keys=[f"user-{n % 8}" for n in range(start, start + 100)],
            )
        client.produce("keyed", {"n": "300"})
        client.produce("plain-in-cluster", {"n": "1"})

    per_key: dict[str, list[int]] = {}
    for name in partitioning.names:
        for _, fields in rc.xrange(name):
            if KEY.encode() in fields:
                key = fields[KEY.encode()].decode()
                assert partitioning.for_key(key) == name
                per_key.setdefault(key, []).append(int(fields[b"n"]))
    assert sorted(per_key) == [f"user-{n}" for n in range(8)]
    assert all(ns == sorted(ns) and len(ns) in (37, 38) for ns in per_key.values())
    assert sum(rc.xlen(name) for name in partitioning.names) == 301
    assert rc.xlen("plain-in-cluster") == 1


async def test_a_group_shares_the_partitions_across_shards(config, rc):
    seen = []
    async with AsyncClient.from_config(config) as client:
        partitioning = await client.declare_partitions("grouped", 6)
        consumers = [
            client.consume(
                "grouped", "g", f"c{n}", start="0", block_ms=100, membership=FAST
            )
            for n in (1, 2, 3)
        ]

        async def run(consumer):
            async with consumer:
                async for message in consumer:
                    seen.append((consumer.name, message.stream, message.id))
                    await message.ack()

        tasks = [asyncio.create_task(run(c)) for c in consumers]
        await eventually(
            lambda: sorted(len(c.partitions) for c in consumers) == [2] * 3
        )
        await client.produce_batch("grouped", [{"n": n} for n in range(240)])
        await eventually(lambda: len(seen) == 240)
        consumers[2].stop()
        await eventually(
            lambda: sorted(len(c.partitions) for c in consumers[:2]) == [3, 3]
        )
        await client.produce_batch("grouped", [{"n": n} for n in range(240, 300)])
        await eventually(lambda: len(seen) == 300)
        client.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)

    handled = Counter((stream, entry_id) for _, stream, entry_id in seen)
    assert len(handled) == 300
    assert set(handled.values()) == {1}
    assert all(rc.xpending(name, "g")["pending"] == 0 for name in partitioning.names)


async def test_partitions_are_archived_and_read_and_replayed_as_one_stream(config, rc):
    async with AsyncClient.from_config(config) as client:
        partitioning = await client.declare_partitions("tiered", 3)
        for start in range(0, 600, 100):
            await client.produce_batch(
                "tiered", [{"n": n} for n in range(start, start + 100)]
            )
    expected = sorted(
        (parse_id(i.decode()), index, name)
        for index, name in enumerate(partitioning.names)
        for i, _ in rc.xrange(name)
    )
    for name in partitioning.names:
        await archive(config, name, trim_keep=50)
    assert sum(rc.xlen(name) for name in partitioning.names) < 600  # trimmed

    stop = asyncio.Event()
    broker = Broker(
        config, store=open_store(config.storage), installers=[install_replay]
    )
    running = asyncio.create_task(broker.run(stop))
    try:
        async with AsyncClient.from_config(config) as client:
            read = [(m.id, m.stream) async for m in client.read("tiered")]
            job = await client.replay("tiered", target="tiered-copy")
            replayed = await job.wait(30)
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)

    assert read == [(str(i), name) for i, _, name in expected]
    assert replayed.state == "done"
    assert replayed.replayed == 600
    origins = [f[ORIGIN_ID.encode()].decode() for _, f in rc.xrange("tiered-copy")]
    assert origins == [str(i) for i, _, _ in expected]

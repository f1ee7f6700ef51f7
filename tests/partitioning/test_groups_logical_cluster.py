"""Groups, pending entries and tail of a logical stream on a 3-primary cluster."""

import asyncio
import threading
from itertools import islice

import pytest
import redis

from streamweaver import keys
from streamweaver.client import AsyncClient, Client
from streamweaver.client.ids import parse_id
from streamweaver.config import RedisConfig
from streamweaver.embedded.cluster import EmbeddedCluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = EmbeddedCluster(tmp_path_factory.mktemp("cluster"), primaries=3).start()
    yield running
    for node in running.nodes:
        node.kill()  # a graceful stop of a whole cluster takes seconds per node


@pytest.fixture
def rc(cluster):
    client = redis.RedisCluster.from_url(cluster.url)
    yield client
    client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    client.close()


def in_time_order(pairs, partitioning):
    index = {name: n for n, name in enumerate(partitioning.names)}
    return sorted(pairs, key=lambda pair: (parse_id(pair[1]), index[pair[0]]))


def test_a_logical_group_spans_the_shards_and_its_tail_reads_each_partition(
    cluster, rc
):
    with Client(nodes_config(cluster)) as client:
        partitioning = client.declare_partitions("orders", 3)
        assert client.create_group("orders", "g", "0") is True
        tail = client.tail("orders", block_ms=50)
        for n in range(9):
            client.produce("orders", {"n": n})
        give_up = threading.Timer(10, client.stop)  # a failing test ends, too
        give_up.start()
        seen = [(m.stream, m.id) for m in islice(tail, 9)]
        give_up.cancel()

        delivered = [
            (name, entry_id.decode())
            for name in partitioning.names
            for entry_id, _ in rc.xreadgroup("g", "c1", {name: ">"})[0][1]
        ]
        entries = client.pending("orders", "g")
        assert client.delete_group("orders", "g") is True

    shards = {cluster.primary_for(name).port for name in partitioning.names}
    assert len(shards) == 3
    assert rc.exists("orders") == 0
    assert sorted(seen) == sorted(delivered)
    for name in partitioning.names:
        ids = [parse_id(i) for s, i in seen if s == name]
        assert len(ids) == 3
        assert ids == sorted(ids)
    assert [(e.stream, e.id) for e in entries] == in_time_order(delivered, partitioning)
    assert all(rc.xinfo_groups(name) == [] for name in partitioning.names)
    assert rc.exists(keys.group_members("orders", "g")) == 0


async def test_the_asyncio_tail_follows_partitions_on_every_shard(cluster, rc):
    async with AsyncClient(nodes_config(cluster)) as client:
        partitioning = await client.declare_partitions("orders", 3)
        tail = client.tail("orders", start="0", block_ms=50)
        produced = await client.produce_batch("orders", [{"n": n} for n in range(6)])

        seen = [await asyncio.wait_for(anext(tail), 10) for _ in range(6)]
        waiting = asyncio.ensure_future(anext(tail))  # finds nothing, then blocks
        produced += await client.produce_batch("orders", [{"n": 6}, {"n": 7}])
        seen += [await asyncio.wait_for(waiting, 10)]
        seen += [await asyncio.wait_for(anext(tail), 10)]
        client.stop()

    assert sorted(m.id for m in seen) == sorted(produced)
    assert {m.stream for m in seen} == set(partitioning.names)


def nodes_config(cluster):
    return RedisConfig(nodes=cluster.startup_nodes)

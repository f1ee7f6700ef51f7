"""A 3-primary Redis Cluster per test module, flushed for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from streamweaver.embedded.cluster import EmbeddedCluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    running = EmbeddedCluster(tmp_path_factory.mktemp("cluster"), primaries=3).start()
    yield running
    for node in running.nodes:
        node.kill()  # a graceful stop of a whole cluster takes seconds per node


@pytest.fixture
def rc(cluster: EmbeddedCluster) -> Iterator[redis.RedisCluster]:
    client = redis.RedisCluster.from_url(cluster.url)
    client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    yield client
    client.close()


def on_distinct_shards(cluster: EmbeddedCluster, names: list[str]) -> list[str]:
    """The first name of ``names`` for each primary, one stream per shard."""
    chosen: dict[int, str] = {}
    for name in names:
        chosen.setdefault(cluster.primary_for(name).port, name)
    return list(chosen.values())

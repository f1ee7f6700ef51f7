"""Archival and retention on a Redis Cluster, with the broker as a real process."""

from __future__ import annotations

import time

import pytest
import redis

from broker.harness import (
    BrokerProcess,
    archived_by_duckdb,
    archived_until,
    fast_config,
    id_key,
    produce,
    wait_until,
)
from streamweaver.embedded.cluster import EmbeddedCluster

pytestmark = pytest.mark.slow

HOUR_AGO_MS = int(time.time() * 1000) - 3_600_000
STREAMS = ["orders", "payments", "clicks", "audit"]


@pytest.fixture
def cluster(tmp_path):
    running = EmbeddedCluster(tmp_path / "cluster", primaries=3).start()
    yield running
    for node in running.nodes:
        node.kill()  # a graceful stop of a whole cluster takes seconds per node


def test_streams_on_every_shard_are_archived_and_trimmed(cluster, tmp_path):
    client = redis.RedisCluster.from_url(cluster.url)
    shards = {cluster.primary_for(s).port for s in STREAMS}
    archive_dir = tmp_path / "archive"
    config = fast_config(
        cluster.nodes[0].port,
        archive_dir,
        retention={"policy": "time", "max_age": "1ms"},
    )
    config["redis"] = {"nodes": cluster.startup_nodes}
    produced = {s: produce(client, s, 700, id_ms=HOUR_AGO_MS) for s in STREAMS}

    broker = BrokerProcess(config, tmp_path / "broker").start()
    try:
        for stream, entries in produced.items():
            last = max(entries, key=id_key)
            wait_until(lambda s=stream, x=last: archived_until(client, s) == x, 30)
            wait_until(lambda s=stream: client.xlen(s) < 100, 20)
    finally:
        broker.stop()
        client.close()

    assert len(shards) > 1  # the streams really live on different primaries
    for stream, entries in produced.items():
        rows = archived_by_duckdb(archive_dir, stream)
        assert len(rows) == len(set(rows))
        assert dict(rows) == entries

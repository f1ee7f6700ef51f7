"""A primary of a Redis Cluster is killed while producers write and brokers archive.

Three primaries with one replica each. The primary serving one managed stream
is killed with SIGKILL; its replica takes over after ``cluster-node-timeout``
(1 s), the producer and the brokers follow the new slot map, the killed node
comes back as the new primary's replica, and archival catches up. Then the
archive plus Redis hold every message exactly once.

Honest accounting: replication is asynchronous, so a write the killed primary
acknowledged may be lost by Redis itself. The producer therefore ends every
batch with ``WAIT 1``, and only batches the replica confirmed count as
acknowledged; those must all survive. Writes that were not confirmed may or
may not survive, and are counted from what the archive and Redis hold. For
the same reason, the last index updates of the killed primary may be lost; the
archiver then writes those messages again as new segments and deletes the
objects its index no longer knows, so the archive still holds each message
once.
"""

from __future__ import annotations

import pytest

from broker.harness import archived_until, fast_config, wait_until
from scale.conftest import on_distinct_shards
from scale.support import (
    Producer,
    archived_total,
    assert_exactly_once,
    broker_group,
    cluster_client,
    last_generated_id,
    running,
    serving_port,
)
from streamweaver.embedded.cluster import EmbeddedCluster

pytestmark = pytest.mark.slow


@pytest.fixture
def replicated(tmp_path):
    running_cluster = EmbeddedCluster(
        tmp_path / "cluster", primaries=3, replicas=1, node_timeout_ms=1000
    ).start()
    yield running_cluster
    for node in running_cluster.nodes:
        node.kill()


def test_a_primary_failover_during_production_and_archival_loses_nothing_acked(
    replicated, tmp_path
):
    client = cluster_client(replicated)
    streams = on_distinct_shards(replicated, [f"orders-{n}" for n in range(30)])
    archive_dir = tmp_path / "archive"
    config = fast_config(
        replicated.nodes[0].port,
        archive_dir,
        archive={"segment_max_messages": 400, "segment_max_age": "300ms"},
        retention={"policy": "time", "max_age": "1ms"},
        broker={"lease_ttl": "2s", "rebalance_interval": "500ms"},
    )
    config["redis"] = {"nodes": replicated.startup_nodes}
    producer = Producer(client, streams, wait_replicas=1).start()

    with running(broker_group(config, tmp_path / "brokers", 2)):
        wait_until(lambda: archived_total(client, streams) > 2000, 30, what="archiving")
        victim_port = serving_port(client, streams[0])
        victim = next(n for n in replicated.nodes if n.port == victim_port)
        victim.kill()
        wait_until(
            lambda: serving_port(client, streams[0]) != victim_port,
            20,
            interval_s=0.2,
            what="the replica took over",
        )
        victim.start()  # it rejoins as the new primary's replica, so WAIT 1 works
        replicated.wait_healthy(20)
        acked_at_failover = producer.total
        wait_until(lambda: producer.total > acked_at_failover + 2000, 30)
        producer.stop()
        for stream in streams:
            last = last_generated_id(client, stream)
            wait_until(
                lambda s=stream, x=last: archived_until(client, s) == x,
                30,
                what=f"{stream} archived up to {last}",
            )

    assert producer.errors  # the failover was felt
    for stream in streams:
        survived = assert_exactly_once(
            client, archive_dir, stream, producer.acked[stream]
        )
        assert all(n < producer.attempted[stream] for n in survived.values())
        extra = len(survived) - len(producer.acked[stream])
        print(f"{stream}: {len(survived)} survived, {extra} not confirmed by WAIT")
    print(f"{len(producer.errors)} failed batches: {producer.errors[:3]}")
    client.close()

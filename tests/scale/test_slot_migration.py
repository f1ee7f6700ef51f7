"""A managed stream's slot moves to another primary during production and archival.

The slot is migrated as ``valkey-cli --cluster reshard`` does it (IMPORTING,
MIGRATING, MIGRATE of its keys, SETSLOT NODE): the stream and the broker's
keys for it (segment index, archive state, lease) move together, since they
share the stream's hash tag. Producers and brokers follow the ASK and MOVED
redirections; no write is lost in a migration, so the archive plus Redis must
hold exactly the acknowledged messages, each once.
"""

from __future__ import annotations

import pytest
import redis

from broker.harness import archived_until, fast_config, wait_until
from scale.conftest import on_distinct_shards
from scale.support import (
    Producer,
    archived_total,
    assert_exactly_once,
    broker_group,
    cluster_client,
    last_generated_id,
    migrate_slot,
    running,
    serving_port,
)
from streamweaver import keys

pytestmark = pytest.mark.slow


def test_a_slot_migration_during_production_loses_and_repeats_nothing(
    cluster, tmp_path
):
    client = cluster_client(cluster)
    client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    streams = on_distinct_shards(cluster, [f"orders-{n}" for n in range(30)])
    moving = streams[0]
    archive_dir = tmp_path / "archive"
    config = fast_config(
        cluster.nodes[0].port,
        archive_dir,
        archive={"segment_max_messages": 400, "segment_max_age": "300ms"},
        retention={"policy": "time", "max_age": "1ms"},
        broker={"lease_ttl": "2s", "rebalance_interval": "500ms"},
    )
    config["redis"] = {"nodes": cluster.startup_nodes}
    producer = Producer(client, streams).start()

    brokers = broker_group(config, tmp_path / "brokers", 2)
    with running(brokers):
        wait_until(lambda: archived_total(client, streams) > 2000, 30, what="archiving")
        source_port = serving_port(client, moving)
        source = next(n for n in cluster.nodes if n.port == source_port)
        target = next(n for n in cluster.nodes if n.port != source_port)
        moved = migrate_slot(
            cluster, client.keyslot(moving), source, target, pause_s=0.5
        )
        assert serving_port(client, moving) == target.port
        acked_at_move = producer.total
        wait_until(lambda: producer.total > acked_at_move + 3000, 30)
        archived_at_move = archived_total(client, [moving])
        wait_until(lambda: archived_total(client, [moving]) > archived_at_move, 30)
        producer.stop()
        for stream in streams:
            last = last_generated_id(client, stream)
            wait_until(
                lambda s=stream, x=last: archived_until(client, s) == x,
                30,
                what=f"{stream} archived up to {last}",
            )

    assert moved >= 3  # the stream, its segment index, archive state and lease
    assert client.exists(keys.stream_lease(moving))
    for broker in brokers:  # the move was waited out, not crashed through
        assert "Traceback" not in broker.log(), broker.log()
        assert " ERROR " not in broker.log(), broker.log()
    for stream in streams:
        survived = assert_exactly_once(
            client, archive_dir, stream, producer.acked[stream]
        )
        assert survived.keys() == producer.acked[stream].keys()
    client.close()

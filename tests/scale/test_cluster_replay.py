"""Replay on a 3-primary Redis Cluster, with a broker killed mid-job.

The source, the target and the job hash live on different shards. Two broker
processes run; the one running the job is killed with SIGKILL and the other
finishes it: the target holds every message of the range (archive and Redis)
exactly once, in order.
"""

from __future__ import annotations

import pytest

from broker.harness import archived_until, fast_config, produce, wait_until
from scale.support import broker_group, running
from streamweaver import keys

pytestmark = pytest.mark.slow


def job_field(client, job_id: str, name: str) -> str | None:
    value = client.hget(keys.replay_job(job_id), name)
    return None if value is None else value.decode()


def test_a_replay_across_shards_survives_its_broker_being_killed(cluster, rc, tmp_path):
    source = "orders"
    target = _elsewhere(cluster, [f"restored-{n}" for n in range(50)], [source])
    job_key = _elsewhere(
        cluster, [keys.replay_job(f"job-{n}") for n in range(50)], [source, target]
    )
    job_id = job_key.removeprefix(keys.replay_job(""))
    config = fast_config(
        cluster.nodes[0].port,
        tmp_path / "archive",
        broker={"lease_ttl": "1s", "rebalance_interval": "300ms"},
    )
    config["redis"] = {"nodes": cluster.startup_nodes}
    ids = list(produce(rc, source, 1200))
    brokers = broker_group(config, tmp_path / "brokers", 2)

    with running(brokers):
        wait_until(lambda: archived_until(rc, source) == ids[-1], 30, what="archived")
        rc.xtrim(source, minid=ids[700])  # the range spans archive and Redis
        rc.xadd(
            keys.CONTROL_STREAM,
            {"op": "replay", "stream": source, "target": target, "id": job_id}
            | {"rate": "1500", "batch_size": "25"},
        )
        wait_until(lambda: int(job_field(rc, job_id, "replayed") or 0) >= 300, 30)
        runner = job_field(rc, job_id, "owner")
        brokers[int(runner[1:])].kill()

        wait_until(lambda: job_field(rc, job_id, "state") == "done", 30, what="done")

    assert [i.decode() for i, _ in rc.xrange(target)] == ids
    assert [int(f[b"n"]) for _, f in rc.xrange(target)] == list(range(1200))
    assert job_field(rc, job_id, "owner") != runner
    assert job_field(rc, job_id, "replayed") == "1200"


def _elsewhere(cluster, candidates: list[str], taken: list[str]) -> str:
    """The first candidate key served by a primary that serves none of ``taken``."""
    busy = {cluster.primary_for(key).port for key in taken}
    return next(k for k in candidates if cluster.primary_for(k).port not in busy)

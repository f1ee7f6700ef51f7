"""Two brokers run side by side; the one running a replay is killed mid-job.

The other broker takes the job over once its lease runs out and finishes it:
the target holds every message of the range exactly once, in order, read from
the archive and from Redis; for a logical stream, in the partitions' merged
order.
"""

from __future__ import annotations

import pytest

from broker.harness import archived_until, fast_config, produce, wait_until
from scale.support import broker_group, running
from streamweaver import Client
from streamweaver.client.ids import parse_id

pytestmark = pytest.mark.slow


def job_field(client, job_id: str, name: str) -> str | None:
    value = client.hget(f"sw:replay:job:{job_id}", name)
    return None if value is None else value.decode()


@pytest.mark.parametrize("mode", ["preserve", "append"])
def test_the_other_broker_finishes_a_replay_whose_broker_was_killed(
    r, redis_server, tmp_path, mode
):
    config = fast_config(
        redis_server.port,
        tmp_path / "archive",
        broker={"lease_ttl": "1s", "rebalance_interval": "300ms"},
    )
    ids = list(produce(r, "orders", 1500))
    brokers = broker_group(config, tmp_path / "brokers", 2)

    with running(brokers):
        wait_until(lambda: archived_until(r, "orders") == ids[-1], what="archived")
        r.xtrim("orders", minid=ids[1000])  # the range spans archive and Redis
        job_id = r.xadd(
            "sw:control",
            {"op": "replay", "stream": "orders", "target": "copy", "mode": mode}
            | {"rate": "2000", "batch_size": "25"},
        ).decode()
        wait_until(lambda: int(job_field(r, job_id, "replayed") or 0) >= 300)
        runner = job_field(r, job_id, "owner")
        brokers[int(runner[1:])].kill()

        wait_until(lambda: job_field(r, job_id, "state") == "done", 30, what="done")

    copied = r.xrange("copy")
    if mode == "preserve":
        assert [i.decode() for i, _ in copied] == ids
    else:
        assert [f[b"sw:origin-id"].decode() for _, f in copied] == ids
    assert [int(f[b"n"]) for _, f in copied] == list(range(1500))
    assert job_field(r, job_id, "owner") != runner
    assert job_field(r, job_id, "replayed") == "1500"
    assert job_field(r, job_id, "cursor") == ids[-1]
    assert not r.keys("sw:{copy}:replay:*")  # the progress hash is cleaned up


def test_a_logical_replay_resumes_in_merged_order_after_its_broker_was_killed(
    r, redis_server, tmp_path
):
    config = fast_config(
        redis_server.port,
        tmp_path / "archive",
        broker={"lease_ttl": "1s", "rebalance_interval": "300ms"},
    )
    with Client.from_url(f"redis://127.0.0.1:{redis_server.port}") as client:
        names = client.declare_partitions("orders", 3).names
    base_ms = 1_700_000_000_000
    produced = {}  # every partition holds the same IDs: the merge breaks the ties
    for index, name in enumerate(names):
        added = produce(r, name, 500, start=500 * index, id_ms=base_ms - 500 * index)
        for entry_id, n in added.items():
            produced[(parse_id(entry_id), index)] = n
    brokers = broker_group(config, tmp_path / "brokers", 2)

    with running(brokers):
        for name in names:
            wait_until(lambda s=name: archived_until(r, s) == f"{base_ms + 499}-0")
            r.xtrim(name, minid=f"{base_ms + 300}-0")  # the range spans both tiers
        job_id = r.xadd(
            "sw:control",
            {"op": "replay", "stream": "orders", "target": "copy"}
            | {"rate": "2000", "batch_size": "25"},
        ).decode()
        wait_until(lambda: int(job_field(r, job_id, "replayed") or 0) >= 300)
        runner = job_field(r, job_id, "owner")
        brokers[int(runner[1:])].kill()

        wait_until(lambda: job_field(r, job_id, "state") == "done", 30, what="done")

    copied = [
        ((parse_id(f[b"sw:origin-id"].decode()), int(f[b"sw:origin-partition"])), f)
        for _, f in r.xrange("copy")
    ]
    assert [origin for origin, _ in copied] == sorted(produced)
    assert [int(f[b"n"]) for _, f in copied] == [produced[o] for o in sorted(produced)]
    assert job_field(r, job_id, "owner") != runner
    assert job_field(r, job_id, "mode") == "append"
    assert job_field(r, job_id, "replayed") == "1500"
    assert job_field(r, job_id, "cursor") == f"{base_ms + 499}-0/2"

"""A broker killed (SIGKILL) mid-replay resumes the job: every message exactly once."""

import pytest

from broker.harness import BrokerProcess, archived_until, fast_config, wait_until
from broker.harness import produce as produce_entries


def job_field(r, job_id, name):
    value = r.hget(f"sw:replay:job:{job_id}", name)
    return value.decode() if value is not None else None


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["preserve", "append"])
def test_a_killed_broker_resumes_the_replay_with_no_gap_and_no_duplicate(
    r, redis_server, tmp_path, mode
):
    config = fast_config(
        redis_server.port,
        tmp_path / "archive",
        broker={"instance_id": "replayer", "lease_ttl": "1s"},
    )
    ids = list(produce_entries(r, "orders", 1200))
    with BrokerProcess(config, tmp_path) as broker:
        wait_until(lambda: archived_until(r, "orders") == ids[-1], what="archived")
        r.xtrim("orders", minid=ids[800])  # the range spans archive and Redis
        target = "copy" if mode == "append" else "restored"
        job_id = r.xadd(
            "sw:control",
            {"op": "replay", "stream": "orders", "target": target, "mode": mode}
            | {"rate": "1500", "batch_size": "40"},
        ).decode()
        wait_until(lambda: int(job_field(r, job_id, "replayed") or 0) >= 400)

        broker.kill()
        assert job_field(r, job_id, "state") == "running"
        written_before = r.xlen(target)
        assert 400 <= written_before < 1200

        broker.start()
        wait_until(lambda: job_field(r, job_id, "state") == "done", what="resumed")

    replayed = r.xrange(target)
    if mode == "preserve":
        assert [i.decode() for i, _ in replayed] == ids
    else:
        assert [f[b"sw:origin-id"].decode() for _, f in replayed] == ids
    assert [int(f[b"n"]) for _, f in replayed] == list(range(1200))
    assert job_field(r, job_id, "replayed") == "1200"
    assert int(job_field(r, job_id, "claims")) == 2


@pytest.mark.slow
def test_another_broker_takes_over_a_job_whose_broker_died(r, redis_server, tmp_path):
    config = fast_config(
        redis_server.port, tmp_path / "archive", broker={"lease_ttl": "1s"}
    )
    ids = list(produce_entries(r, "orders", 600))
    first = BrokerProcess(config, tmp_path, name="first").start()
    try:
        job_id = r.xadd(
            "sw:control",
            {"op": "replay", "stream": "orders", "rate": "1000", "batch_size": "20"},
        ).decode()
        wait_until(lambda: int(job_field(r, job_id, "replayed") or 0) >= 100)
        first.kill()
        owner = job_field(r, job_id, "owner")

        with BrokerProcess(config, tmp_path, name="second"):
            wait_until(lambda: job_field(r, job_id, "state") == "done", what="done")
    finally:
        first.stop()

    assert job_field(r, job_id, "owner") != owner
    target = job_field(r, job_id, "target")
    assert [i.decode() for i, _ in r.xrange(target)] == ids

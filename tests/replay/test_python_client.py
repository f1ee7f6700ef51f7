"""Replay from the Python client: request, progress, wait, cancel, refusals."""

import pytest

from replay.helpers import produce
from streamweaver.client.replay import request_fields, submit, submit_async
from streamweaver.errors import OperationTimeoutError, ReplayError
from streamweaver.replay.request import ReplayRejectedError

from waiting import wait_for


def produce_sync(r, stream, count):
    pipe = r.pipeline(transaction=False)
    for n in range(count):
        pipe.xadd(stream, {"n": str(n)})
    return pipe.execute()


def test_the_client_replays_and_its_handle_reports_the_outcome(r, broker_thread):
    broker_thread()
    ids = produce_sync(r, "orders", 500)

    job = submit(r, request_fields("orders", ids[100].decode(), ids[399].decode()))
    final = job.wait(timeout_s=20)

    assert final.state == "done"
    assert final.replayed == final.total == 300
    assert job.progress() == (300, 300)
    assert [i for i, _ in r.xrange(final.get("target"))] == ids[100:400]


def test_a_refused_request_raises_the_brokers_reason(r, broker_thread):
    broker_thread()

    with pytest.raises(ReplayRejectedError) as refused:
        submit(r, request_fields("missing"))

    assert refused.value.code == "unknown_stream"
    assert "there is no stream 'missing'" in str(refused.value)


def test_a_malformed_time_is_refused_before_anything_is_sent(r):
    with pytest.raises(ReplayRejectedError) as refused:
        request_fields("orders", start="last tuesday")

    assert refused.value.code == "invalid_from"
    assert not r.exists("sw:control")


def test_without_a_broker_the_client_says_so_instead_of_hanging(r):
    produce_sync(r, "orders", 1)

    with pytest.raises(ReplayError, match="no broker took replay request"):
        submit(r, request_fields("orders"), accept_timeout_s=0.3)


def test_cancel_stops_a_running_job_and_keeps_what_it_wrote(r, broker_thread):
    broker_thread(broker={"lease_ttl": "600ms"})
    ids = produce_sync(r, "orders", 2000)

    job = submit(r, request_fields("orders", rate=200, batch_size=10))
    wait_for(lambda: job.status().replayed >= 20)
    job.cancel()
    final = job.wait(timeout_s=10)

    assert final.state == "cancelled"
    written = [i for i, _ in r.xrange(final.get("target"))]
    assert 20 <= len(written) == final.replayed < 2000
    assert written == ids[: len(written)]


def test_waiting_too_long_raises_a_timeout_with_the_progress(r, broker_thread):
    broker_thread()
    produce_sync(r, "orders", 1000)

    job = submit(r, request_fields("orders", rate=100))

    with pytest.raises(OperationTimeoutError, match="did not finish within"):
        job.wait(timeout_s=0.3)
    job.cancel()
    assert job.wait(timeout_s=10).state == "cancelled"


async def test_the_asyncio_client_replays_too(ar, start_broker):
    await start_broker()
    ids = await produce(ar, "orders", 50)

    job = await submit_async(ar, request_fields("orders", mode="append", target="c"))
    final = await job.wait(timeout_s=20)

    assert final.state == "done"
    copies = await ar.xrange("c")
    assert [fields[b"sw:origin-id"] for _, fields in copies] == ids

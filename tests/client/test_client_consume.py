"""Consuming in a group: ack, nack, reclaim, dead letters and stopping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from streamweaver import DecodingError, MessageError
from streamweaver.client import ConsumerOptions
from streamweaver.client import headers as hdr
from streamweaver.client._consumer_settling import RELEASE_IDLE_MS
from streamweaver.client.ids import parse_id
from streamweaver.keys import dead_letter_stream

from waiting import wait_for


def take(consumer, n, timeout_s=10.0):
    """The next ``n`` messages of a consumer, failing if they do not come in time."""
    got = []
    deadline = time.monotonic() + timeout_s
    for message in consumer:
        got.append(message)
        if len(got) == n:
            return got
        assert time.monotonic() < deadline, f"only {len(got)} of {n} messages came"
    raise AssertionError(f"the consumer stopped after {len(got)} of {n} messages")


def dead_letters(client, stream="s"):
    return list(client.read(dead_letter_stream(stream)))


def stop_when(consumer, condition, timeout_s=10.0):
    """Stop ``consumer`` from another thread once ``condition()`` holds (or later)."""

    def watch():
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)
        consumer.stop()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


@pytest.mark.redis_compat
def test_consumed_and_acked_messages_leave_the_pending_list(client, fast):
    client.produce_batch("s", [{"n": i} for i in range(5)])

    with client.consume("s", "g", "c", start="0", **fast) as consumer:
        for message in take(consumer, 5):
            assert message.delivery_count == 1
            assert (message.group, message.consumer) == ("g", "c")
            message.ack()

    assert client.pending("s", "g") == []


def test_acks_are_sent_with_the_next_read(client):
    client.produce_batch("s", [{"n": 1}, {"n": 2}])
    options = ConsumerOptions(count=1, block_ms=50, prefetch=False)
    with client.consume("s", "g", "c", start="0", options=options) as consumer:
        iterator = iter(consumer)
        next(iterator).ack()
        assert len(client.pending("s", "g")) == 1  # the second is not read yet
        next(iterator)
        assert [p.id for p in client.pending("s", "g")] == [
            m.id for m in client.read("s")
        ][1:]


def test_the_next_batch_is_read_ahead_and_released_on_stop(client):
    client.produce_batch("s", [{"n": 1}, {"n": 2}, {"n": 3}])
    with client.consume("s", "g", "c", start="0", count=1, block_ms=50) as consumer:
        iterator = iter(consumer)
        next(iterator).ack()
        wait_for(lambda: len(client.pending("s", "g")) == 2)  # n=2 read ahead
        consumer.stop()
        assert list(iterator) == []

    (released,) = client.pending("s", "g")
    assert released.deliveries == 0


def test_leaving_the_loop_early_sends_acks_and_releases_the_rest(client, fast):
    client.produce_batch("s", [{"n": i} for i in range(6)])

    for message in client.consume("s", "g", "c", start="0", **fast):
        message.ack()
        if message.fields["n"] == 1:
            break

    pending = client.pending("s", "g")
    assert [p.deliveries for p in pending] == [0, 0, 0, 0]
    assert all(p.idle_ms >= RELEASE_IDLE_MS - 60_000 for p in pending)


def test_a_nacked_message_is_delivered_again_with_a_higher_count(client, fast):
    client.produce("s", {"job": "flaky"})

    with client.consume("s", "g", "c", start="0", **fast) as consumer:
        first = take(consumer, 1)[0]
        first.nack()
        again = take(consumer, 1)[0]
        again.ack()

    assert again.id == first.id
    assert again.delivery_count == 2
    assert client.pending("s", "g") == []


def test_a_nack_with_a_delay_holds_the_message_back(client):
    client.produce("s", {"job": "later"})
    with client.consume("s", "g", "c", start="0", claim_idle_ms=60_000) as consumer:
        take(consumer, 1)[0].nack(delay_ms=20_000)
        (pending,) = client.pending("s", "g")

    # claimable once idle for claim_idle_ms: 40 s of idleness were granted
    assert 40_000 <= pending.idle_ms < 45_000


def test_a_message_is_settled_only_once(client, fast):
    client.produce("s", {"a": "b"})
    with client.consume("s", "g", "c", start="0", **fast) as consumer:
        message = take(consumer, 1)[0]
        message.ack()
        message.ack()
        with pytest.raises(MessageError, match="already acknowledged"):
            message.nack()


def test_a_message_from_a_plain_read_cannot_be_acked(client):
    client.produce("s", {"a": "b"})
    (message,) = client.read("s")
    with pytest.raises(MessageError, match="not read through a consumer group"):
        message.ack()


@pytest.mark.redis_compat
def test_a_handler_that_keeps_failing_sends_the_message_to_the_dead_letters(
    client, fast
):
    message_id = client.produce("s", {"order": 7})
    attempts = []

    def handler(message):
        attempts.append(message.delivery_count)
        if len(attempts) == 3:
            client.stop()
        raise RuntimeError("payment service down")

    client.run_consumer(
        "s", "g", handler, "worker", start="0", max_deliveries=3, **fast
    )

    assert attempts == [1, 2, 3]
    (letter,) = dead_letters(client)
    assert letter.fields == {"order": 7}
    assert letter.headers[hdr.DLQ_REASON].startswith(
        "RuntimeError: payment service down"
    )
    assert letter.headers[hdr.DLQ_ID] == message_id
    assert letter.headers[hdr.DLQ_STREAM] == "s"
    assert letter.headers[hdr.DLQ_GROUP] == "g"
    assert letter.headers[hdr.DLQ_CONSUMER] == "worker"
    assert letter.headers[hdr.DLQ_DELIVERIES] == "3"
    assert abs(int(letter.headers[hdr.DLQ_AT_MS]) - time.time() * 1000) < 60_000
    assert client.pending("s", "g") == []


def test_a_handler_that_returns_acks_and_one_that_fails_retries(client, fast):
    client.produce_batch("s", [{"n": 1}, {"n": 2}])
    seen = []

    def handler(message):
        seen.append((message.fields["n"], message.delivery_count))
        if message.fields["n"] == 2 and message.delivery_count == 1:
            raise ValueError("transient")
        if len(seen) == 3:
            client.stop()

    client.run_consumer("s", "g", handler, start="0", **fast)

    assert seen == [(1, 1), (2, 1), (2, 2)]
    assert client.pending("s", "g") == []
    assert dead_letters(client) == []


def test_messages_nobody_acks_go_to_the_dead_letters_after_max_deliveries(client, fast):
    message_id = client.produce("s", {"poison": True})
    counts = []
    with client.consume("s", "g", "c", start="0", max_deliveries=2, **fast) as c:
        stop_when(c, lambda: dead_letters(client))
        counts = [m.delivery_count for m in c]  # never acked

    assert counts == [1, 2]
    (letter,) = dead_letters(client)
    assert letter.headers[hdr.DLQ_ID] == message_id
    assert letter.headers[hdr.DLQ_DELIVERIES] == "2"
    assert "not acknowledged after 2 deliveries" in letter.headers[hdr.DLQ_REASON]
    assert letter.fields == {"poison": True}
    assert client.pending("s", "g") == []


def test_a_message_that_cannot_be_decoded_is_dead_lettered_at_once(client, r, fast):
    r.xadd("s", {"n": "x", "sw:types": '{"n":"int"}'})
    client.produce("s", {"n": 2})
    good = []

    def handler(message):
        good.append(message.fields)
        if message.fields == {"n": 2}:
            client.stop()

    client.run_consumer("s", "g", handler, start="0", **fast)

    assert good == [{"n": 2}]
    ((_, letter),) = r.xrange(dead_letter_stream("s"))
    assert b"cannot decode" in letter[hdr.DLQ_REASON.encode()]
    assert letter[hdr.DLQ_DELIVERIES.encode()] == b"1"
    assert letter[b"n"] == b"x"
    assert client.pending("s", "g") == []


def test_fields_are_decoded_when_first_used(client, r, fast):
    r.xadd("s", {"n": "x", "sw:types": '{"n":"int"}'})
    with client.consume("s", "g", "c", start="0", **fast) as consumer:
        (message,) = take(consumer, 1)
        assert message.raw_fields[b"n"] == b"x"
        with pytest.raises(DecodingError, match="'n'") as caught:
            message.fields  # noqa: B018
        assert caught.value.message_id == message.id
        message.dead_letter("bad input")


def test_a_handler_may_dead_letter_a_message_itself(client, fast):
    client.produce("s", {"bad": "input"})

    def handler(message):
        message.dead_letter("invalid order")
        client.stop()

    client.run_consumer("s", "g", handler, start="0", **fast)

    assert dead_letters(client)[0].headers[hdr.DLQ_REASON] == "invalid order"
    assert client.pending("s", "g") == []


DOOMED = """
import sys
from streamweaver import Client
with Client(sys.argv[1]) as client:
    consumer = client.consume("s", "g", "doomed", start="0", count=100, block_ms=50)
    seen = 0
    for message in consumer:
        seen += 1
        if seen == int(sys.argv[2]):
            print("holding", flush=True)
            sys.stdin.read()
"""


def test_messages_of_a_killed_consumer_are_reclaimed_by_another(
    client, redis_server, fast
):
    ids = client.produce_batch("s", [{"n": i} for i in range(20)])
    doomed = subprocess.Popen(
        [sys.executable, "-c", DOOMED, redis_server.url, "20"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert doomed.stdout.readline().strip() == "holding"
        os.kill(doomed.pid, signal.SIGKILL)
    finally:
        doomed.kill()
        doomed.wait()
    assert {p.consumer for p in client.pending("s", "g")} == {"doomed"}

    with client.consume("s", "g", "survivor", **fast) as consumer:
        reclaimed = take(consumer, 20)
        for message in reclaimed:
            message.ack()

    assert sorted((m.id for m in reclaimed), key=parse_id) == ids
    assert {m.delivery_count for m in reclaimed} == {2}
    assert client.pending("s", "g") == []


def test_stop_finishes_the_current_message_and_releases_the_rest(client, fast):
    client.produce_batch("s", [{"n": i} for i in range(10)])
    handled = []

    def handler(message):
        handled.append(message.fields["n"])
        if len(handled) == 3:
            client.stop()

    client.run_consumer("s", "g", handler, "first", start="0", **fast)

    assert handled == [0, 1, 2]
    released = client.pending("s", "g")
    assert len(released) == 7
    assert {p.deliveries for p in released} == {0}  # releasing costs no attempt

    with client.consume("s", "g", "second", **fast) as consumer:
        rest = take(consumer, 7, timeout_s=5)
        for message in rest:
            message.ack()
    assert [m.fields["n"] for m in rest] == list(range(3, 10))
    assert {m.delivery_count for m in rest} == {1}


def test_stop_from_another_thread_ends_a_blocked_consumer(client, r, fast):
    finished = threading.Event()

    def run():
        client.run_consumer("s", "g", lambda m: None, **fast)
        finished.set()

    worker = threading.Thread(target=run)
    worker.start()
    wait_for(lambda: r.exists("s") and r.xinfo_groups("s"))
    client.stop()
    worker.join(timeout=10)
    assert finished.is_set()


def test_consumers_give_their_connections_back(client, fast):
    client.produce_batch("s", [{"n": i} for i in range(30)])
    pool = client._redis.connection_pool

    for round_ in range(5):
        with client.consume("s", "g", f"c{round_}", start="0", **fast) as consumer:
            for message in consumer:
                message.ack()
                if message.fields["n"] == 6 * round_ + 5:
                    break
        assert pool._in_use_connections == set()

    assert client.pending("s", "g") == []

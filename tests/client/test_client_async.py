"""The asyncio client: the same operations, awaited."""

from __future__ import annotations

import asyncio

import pytest

from streamweaver import GroupExistsError, MessageError
from streamweaver.client import headers as hdr
from streamweaver.keys import dead_letter_stream


@pytest.mark.redis_compat
async def test_async_produce_and_read_round_trip_every_type(aclient):
    first = await aclient.produce("s", {"n": 1, "raw": b"\x00", "doc": {"a": [1.5]}})
    more = await aclient.produce_batch("s", [{"i": i} for i in range(3)])

    messages = [m async for m in aclient.read("s")]
    assert [m.id for m in messages] == [first, *more]
    assert messages[0].fields == {"n": 1, "raw": b"\x00", "doc": {"a": [1.5]}}


@pytest.mark.redis_compat
async def test_async_consumers_ack_and_nack(aclient, fast):
    await aclient.produce_batch("s", [{"n": 1}, {"n": 2}])
    seen = []

    async with aclient.consume("s", "g", "c", start="0", **fast) as consumer:
        async for message in consumer:
            seen.append((message.fields["n"], message.delivery_count))
            if message.fields["n"] == 2 and message.delivery_count == 1:
                await message.nack()
            else:
                await message.ack()
            if len(seen) == 3:
                consumer.stop()

    assert seen == [(1, 1), (2, 1), (2, 2)]
    assert await aclient.pending("s", "g") == []


async def test_async_handlers_are_awaited_and_failures_dead_lettered(aclient, fast):
    await aclient.produce("s", {"n": 1})
    attempts = []

    async def handler(message):
        attempts.append(message.delivery_count)
        await asyncio.sleep(0)
        if len(attempts) == 2:
            aclient.stop()
        raise KeyError("missing")

    await aclient.run_consumer("s", "g", handler, start="0", max_deliveries=2, **fast)

    assert attempts == [1, 2]
    (letter,) = [m async for m in aclient.read(dead_letter_stream("s"))]
    assert letter.headers[hdr.DLQ_REASON].startswith("KeyError")
    assert letter.headers[hdr.DLQ_DELIVERIES] == "2"


async def test_a_sync_handler_works_with_the_async_client(aclient, fast):
    await aclient.produce("s", {"n": 1})
    handled = []

    def handler(message):
        handled.append(message.fields)
        aclient.stop()

    await aclient.run_consumer("s", "g", handler, start="0", **fast)
    assert handled == [{"n": 1}]
    assert await aclient.pending("s", "g") == []


async def test_async_stop_releases_unhandled_messages(aclient, fast):
    await aclient.produce_batch("s", [{"n": i} for i in range(5)])

    async with aclient.consume("s", "g", "c", start="0", **fast) as consumer:
        async for message in consumer:
            await message.ack()
            consumer.stop()

    released = await aclient.pending("s", "g")
    assert len(released) == 4
    assert {p.deliveries for p in released} == {0}


async def test_async_tail_follows_new_messages(aclient):
    tail = aclient.tail("s", start="0", block_ms=50)
    produced = await aclient.produce("s", {"n": 1})

    message = await anext(tail)
    assert message.id == produced
    aclient.stop()
    assert [m async for m in tail] == []


async def test_async_groups_report_errors_like_the_sync_client(aclient):
    await aclient.create_group("s", "g")
    with pytest.raises(GroupExistsError):
        await aclient.create_group("s", "g")
    assert await aclient.delete_group("s", "g") is True


async def test_async_read_messages_cannot_be_acked(aclient):
    await aclient.produce("s", {"a": "b"})
    (message,) = [m async for m in aclient.read("s")]
    with pytest.raises(MessageError, match="consumer group"):
        await message.ack()

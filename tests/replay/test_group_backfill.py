"""A consumer group that starts before Redis's oldest entry is backfilled first."""

import asyncio

from replay.helpers import archive, produce
from streamweaver.client import Client
from streamweaver.replay.backfill import consume_from_archive, side_stream


async def test_a_group_from_the_past_gets_the_archive_then_the_live_stream(
    ar, start_broker
):
    config = await start_broker()
    ids = await produce(ar, "orders", 800)
    await archive(config, "orders", trim_keep=150)
    ids += await produce(ar, "orders", 50, start=800)
    expected = [i.decode() for i in ids]

    def consume() -> list[str]:
        seen = []
        with Client.from_config(config) as client:
            for message in consume_from_archive(
                client, "orders", "audit", "c1", start="-", block_ms=100
            ):
                seen.append(message.id)
                message.ack()
                if len(seen) == len(expected):
                    client.stop()
        return seen

    seen = await asyncio.to_thread(consume)

    assert seen == expected
    assert not await ar.exists(side_stream("orders", "audit"))
    assert not await ar.hget("sw:{orders}:backfill", "audit")
    groups = await ar.xinfo_groups("orders")
    assert groups[0]["last-delivered-id"] == ids[-1]


async def test_a_group_whose_start_is_still_in_redis_needs_no_backfill(
    ar, start_broker
):
    config = await start_broker()
    ids = await produce(ar, "orders", 20)

    def consume() -> list[str]:
        with Client.from_config(config) as client:
            seen = []
            for message in consume_from_archive(
                client, "orders", "g", start=ids[5].decode(), block_ms=100
            ):
                seen.append(message.id)
                message.ack()
                if len(seen) == 15:
                    client.stop()
            return seen

    assert await asyncio.to_thread(consume) == [i.decode() for i in ids[5:]]
    assert not await ar.exists(side_stream("orders", "g"))

"""The Python client keeps producing and consuming while a stream's slot moves.

The slot is migrated as ``valkey-cli --cluster reshard`` does it, the stream
first and then the slot's other keys one by one, so for a while the stream is
on the target while the slot still belongs to the source: clients get ASK, and
MOVED once the slot is reassigned. The client must follow both: no call fails,
and every message is added and delivered exactly once.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis

from scale.support import migrate_slot
from streamweaver import AsyncClient, Client
from streamweaver.config import config_from_mapping

from waiting import wait_for

pytestmark = pytest.mark.slow

FAST = {"block_ms": 50, "claim_idle_ms": 60_000, "count": 50}
FILLER_KEYS = 30
"""Other keys in the stream's slot; moving them one by one keeps the slot split."""


def cluster_config(cluster):
    return config_from_mapping({"redis": {"nodes": cluster.startup_nodes}})


def fill_slot(client: redis.RedisCluster, stream: str) -> None:
    for n in range(FILLER_KEYS):
        client.set(f"{{{stream}}}:filler-{n}", n)


def asking_calls(node) -> int:
    """How many ASKING commands ``node`` has run: redirections followed."""
    with redis.Redis(host=node.host, port=node.port) as client:
        return client.info("commandstats").get("cmdstat_asking", {}).get("calls", 0)


def move_slot_of(cluster, client: redis.RedisCluster, stream: str):
    source = cluster.primary_for(stream)
    target = next(n for n in cluster.nodes if n.port != source.port)
    before = asking_calls(target)
    migrate_slot(
        cluster, client.keyslot(stream), source, target, pause_s=0.03, first=[stream]
    )
    assert cluster.primary_for(stream).port == target.port
    return asking_calls(target) - before


def test_a_producer_and_a_consumer_follow_a_moving_slot(cluster, rc):
    stream = "orders"
    fill_slot(rc, stream)
    producer = Client.from_config(cluster_config(cluster))
    consumer_client = Client.from_config(cluster_config(cluster))
    producer.create_group(stream, "g", "0")
    produced: list[str] = []
    consumed: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def produce() -> None:
        n = 0
        while not stop.is_set():
            try:
                produced.extend(
                    producer.produce_batch(stream, [{"n": n + i} for i in range(20)])
                )
                produced.append(producer.produce(stream, {"n": n + 20}))
            except Exception as exc:  # reported by the test
                errors.append(exc)
                return
            n += 21

    def consume() -> None:
        try:
            with consumer_client.consume(stream, "g", "c", **FAST) as consumer:
                for message in consumer:
                    consumed.append(message.id)
                    message.ack()
        except Exception as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(consumed) > 500 or errors, 30)
        followed = move_slot_of(cluster, rc, stream)
        at_move = len(produced)
        wait_for(lambda: len(produced) > at_move + 500 or errors, 30)
    finally:
        stop.set()
        threads[0].join(30)
        wait_for(lambda: len(consumed) >= len(produced) or errors, 30)
        consumer_client.stop()
        threads[1].join(30)
        producer.close()
        consumer_client.close()

    assert not errors, errors
    assert followed > 0  # the clients did meet ASK and followed it
    assert len(set(produced)) == len(produced)
    assert sorted(consumed) == sorted(produced)
    assert len(consumed) == len(set(consumed))
    assert rc.xlen(stream) == len(produced)
    assert rc.xpending(stream, "g")["pending"] == 0


async def test_the_async_client_follows_a_partitions_slot_as_it_moves(cluster, rc):
    async with AsyncClient(cluster_config(cluster)) as client:
        partitioning = await client.declare_partitions("clicks", 3)
        moving = partitioning.names[0]
        fill_slot(rc, moving)
        seen: list[tuple[str, str]] = []
        produced: list[str] = []
        stop = asyncio.Event()

        async def produce() -> None:
            n = 0
            while not stop.is_set():
                batch = [{"n": n + i} for i in range(30)]
                keys = [f"user-{(n + i) % 17}" for i in range(30)]
                produced.extend(await client.produce_batch("clicks", batch, keys=keys))
                n += 30
                await asyncio.sleep(0)

        async def consume() -> None:
            async with client.consume("clicks", "g", "c", start="0", **FAST) as group:
                async for message in group:
                    seen.append((message.stream, message.id))
                    await message.ack()

        producing = asyncio.create_task(produce())
        consuming = asyncio.create_task(consume())
        try:
            await _until(lambda: len(seen) > 300, producing, consuming)
            followed = await asyncio.to_thread(move_slot_of, cluster, rc, moving)
            at_move = len(produced)
            await _until(lambda: len(produced) > at_move + 600, producing, consuming)
            stop.set()
            await producing
            await _until(lambda: len(seen) >= len(produced), consuming)
        finally:
            stop.set()
            client.stop()
            await asyncio.gather(producing, consuming)

    assert followed > 0
    assert sorted(i for _, i in seen) == sorted(produced)
    assert len(set(seen)) == len(seen)
    assert any(stream == moving for stream, _ in seen)
    assert sum(rc.xlen(name) for name in partitioning.names) == len(produced)


async def _until(condition, *tasks: asyncio.Task, timeout_s: float = 30) -> None:
    """Wait for ``condition``, failing at once if one of ``tasks`` failed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        for task in tasks:
            if task.done():
                task.result()  # raises what the task raised
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)

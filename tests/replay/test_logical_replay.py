"""A broker replays a logical stream: its partitions merged by ID, both tiers.

The merged messages get new IDs in the target (``append`` mode, the default for
a logical stream) and carry where they came from: ``sw:origin-id``,
``sw:origin-stream`` (the partition) and ``sw:origin-partition``.
"""

import asyncio

import pytest

from replay.helpers import archive
from streamweaver.client import AsyncClient, Client
from streamweaver.client.headers import ORIGIN_ID, ORIGIN_PARTITION, ORIGIN_STREAM
from streamweaver.client.ids import parse_id
from streamweaver.replay.request import ReplayRejectedError


def merged_order(r, partitioning):
    """Every (ID, partition, stream) of the partitions, as a merge must order them."""
    return sorted(
        (parse_id(entry_id.decode()), index, name)
        for index, name in enumerate(partitioning.names)
        for entry_id, _ in r.xrange(name)
    )


def origins(r, target):
    return [
        (
            parse_id(fields[ORIGIN_ID.encode()].decode()),
            int(fields[ORIGIN_PARTITION.encode()]),
            fields[ORIGIN_STREAM.encode()].decode(),
        )
        for _, fields in r.xrange(target)
    ]


async def produce_history(config, partitions=3, count=300):
    async with AsyncClient.from_config(config) as client:
        partitioning = await client.declare_partitions("orders", partitions)
        for start in range(0, count, 50):
            await client.produce_batch(
                "orders",
                [{"n": n} for n in range(start, start + 50)],
                keys=[f"k{n % 9}" for n in range(start, start + 50)],
            )
    return partitioning


async def test_a_logical_replay_writes_the_merged_history_with_new_ids(
    ar, r, start_broker
):
    config = await start_broker()
    partitioning = await produce_history(config)
    expected = merged_order(r, partitioning)
    await archive(config, partitioning.names[0], trim_keep=0)  # from the archive

    with Client.from_config(config) as client:
        job = await asyncio.to_thread(client.replay, "orders", target="orders-copy")
        done = await asyncio.to_thread(job.wait, 20)
    async with AsyncClient.from_config(config) as client:
        again = await client.replay(
            "orders", mode="append", batch_size=70, pace="original*1000"
        )
        again_done = await again.wait(20)

    assert done.state == again_done.state == "done"
    assert done.replayed == again_done.replayed == 300
    assert done.get("mode") == "append"
    for target in ("orders-copy", again_done.get("target")):
        assert origins(r, target) == expected
        target_ids = [parse_id(i.decode()) for i, _ in r.xrange(target)]
        assert target_ids == sorted(target_ids)
    assert not r.exists("orders")  # nothing was written under the logical name


async def test_a_logical_replay_of_part_of_the_range_keeps_only_that_part(
    ar, r, start_broker
):
    config = await start_broker()
    partitioning = await produce_history(config, partitions=4, count=200)
    expected = merged_order(r, partitioning)
    start, end = expected[40][0], expected[150][0]

    async with AsyncClient.from_config(config) as client:
        job = await client.replay("orders", str(start), str(end), target="part")
        final = await job.wait(20)

    wanted = [e for e in expected if start <= e[0] <= end]
    assert final.replayed == len(wanted)
    assert origins(r, "part") == wanted


@pytest.mark.parametrize(
    ("options", "code", "says"),
    [
        ({"mode": "preserve"}, "preserve_logical", "cannot be replayed in preserve"),
        ({"target": "orders"}, "invalid_target", "cannot write to a stream of the"),
    ],
)
async def test_a_logical_replay_refuses_what_it_cannot_do(
    ar, r, start_broker, options, code, says
):
    config = await start_broker()
    await produce_history(config, partitions=2, count=50)

    async with AsyncClient.from_config(config) as client:
        with pytest.raises(ReplayRejectedError, match=says) as refused:
            await client.replay("orders", **options)

    assert refused.value.code == code


async def test_an_empty_logical_stream_is_refused_with_its_partition_count(
    ar, start_broker
):
    config = await start_broker()
    async with AsyncClient.from_config(config) as client:
        await client.declare_partitions("orders", 3)
        with pytest.raises(ReplayRejectedError, match="any of its 3 partitions"):
            await client.replay("orders")

"""The client's read across the archive and Redis: one ordered history, no seam."""

import asyncio
import threading

from replay.helpers import archive, produce
from streamweaver.client import AsyncClient, Client

from waiting import eventually


async def history(ar, config, *, archived: int, trimmed_to: int, live: int):
    """Produce, archive, trim, produce more; every ID in order."""
    ids = await produce(ar, "orders", archived)
    await archive(config, "orders", trim_keep=trimmed_to)
    return ids + await produce(ar, "orders", live, start=archived)


async def test_the_client_reads_the_full_history_across_the_seam_exactly_once(
    ar, make_config
):
    config = make_config()
    ids = await history(ar, config, archived=1500, trimmed_to=300, live=200)
    assert await ar.xlen("orders") == 500

    with Client.from_config(config) as client:
        read = await asyncio.to_thread(lambda: list(client.read("orders")))

    assert [m.id for m in read] == [i.decode() for i in ids]
    assert [m.fields["n"] for m in read] == [str(n) for n in range(1700)]


async def test_a_range_and_a_count_are_honoured_across_tiers(ar, make_config):
    config = make_config()
    ids = [i.decode() for i in await history(ar, config, archived=900, trimmed_to=0,
                                             live=100)]  # fmt: skip

    async with AsyncClient.from_config(config) as client:
        ranged = [m.id async for m in client.read("orders", ids[850], ids[949])]
        capped = [m.id async for m in client.read("orders", ids[10], count=5)]

    assert ranged == ids[850:950]
    assert capped == ids[10:15]


async def test_without_the_archive_the_client_reads_redis_only(ar, make_config):
    config = make_config()
    await history(ar, config, archived=600, trimmed_to=100, live=0)

    with Client.from_config(config, archive=None) as client:
        read = await asyncio.to_thread(lambda: list(client.read("orders")))

    assert len(read) == 100


async def test_following_goes_on_with_live_messages_after_the_history(ar, make_config):
    config = make_config()
    ids = await history(ar, config, archived=400, trimmed_to=50, live=0)
    seen: list[str] = []
    done = threading.Event()

    def follow() -> None:
        with Client.from_config(config) as client:
            for message in client.read("orders", follow=True, batch_size=100):
                seen.append(message.id)
                if len(seen) == 410:
                    done.set()
                    return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    await eventually(lambda: len(seen) >= 400)
    ids += await produce(ar, "orders", 10, start=400)
    await asyncio.to_thread(done.wait, 10)
    reader.join(5)

    assert seen == [i.decode() for i in ids]


async def test_the_client_replays_through_its_own_method(ar, make_config, start_broker):
    config = await start_broker()
    ids = await produce(ar, "orders", 30)

    async with AsyncClient.from_config(config) as client:
        job = await client.replay("orders", target="again", mode="append")
        final = await job.wait(timeout_s=20)

    assert final.state == "done"
    copies = await ar.xrange("again")
    assert [fields[b"sw:origin-id"] for _, fields in copies] == ids

"""The archiver in-process, against the real Valkey and a local store."""

from __future__ import annotations

import asyncio
import time

import pytest

from streamweaver.archive.archiver import Archiver
from streamweaver.archive.bounded import run_bounded
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.rawread import raw_client
from streamweaver.archive.reader import read_archive
from streamweaver.archive.segment import encode_segment
from streamweaver.config.model import ArchiveConfig, LocalStorageConfig
from streamweaver.monitoring import metrics
from streamweaver.storage.local import LocalStore


@pytest.fixture
async def raw(redis_config):
    client = raw_client(redis_config)
    yield client
    await client.aclose()


def sample(name: str, stream: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"stream": stream}) or 0.0


def archive_config(**values) -> ArchiveConfig:
    return ArchiveConfig.model_validate(
        {"segment_max_messages": 100, "segment_max_age": "10m", "read_batch": 30}
        | values
    )


pytestmark = pytest.mark.redis_compat  # raw XRANGE replies on Redis 7 too

HOUR_AGO_MS = int(time.time() * 1000) - 3_600_000


def produce(r, stream: str, n: int, *, start: int = 0, old: bool = False) -> list:
    """Add entries ``n=start..``; ``old`` ones carry IDs from an hour ago."""
    pipe = r.pipeline(transaction=False)
    for i in range(start, start + n):
        entry_id = f"{HOUR_AGO_MS + i}-0" if old else "*"
        pipe.xadd(stream, {"n": str(i), "pad": "x" * 40}, id=entry_id)
    return pipe.execute()


async def archived(segment_index, archive_store, stream) -> list[tuple[str, bytes]]:
    entries = [
        e
        async for batch in read_archive(segment_index, archive_store, stream)
        for e in batch
    ]
    return [(entry_id, dict(fields)[b"n"]) for entry_id, fields in entries]


async def test_full_segments_are_written_and_the_rest_waits_for_its_age(
    r, raw, archive_store, segment_index
):
    ids = produce(r, "orders", 250)
    archiver = Archiver(archive_config(), raw, archive_store, segment_index)
    messages_before = sample("streamweaver_archived_messages_total", "orders")
    segments_before = sample("streamweaver_archive_segments_written_total", "orders")

    await archiver.pass_once({"orders": None})

    metas = await segment_index.segments("orders")
    assert [m.count for m in metas] == [100, 100]
    assert await segment_index.archived_until("orders") == ids[199].decode()
    messages = sample("streamweaver_archived_messages_total", "orders")
    segments = sample("streamweaver_archive_segments_written_total", "orders")
    assert (messages - messages_before, segments - segments_before) == (200, 2)
    assert sample("streamweaver_archive_lag_seconds", "orders") < 600


async def test_a_segment_is_cut_once_its_oldest_entry_is_older_than_max_age(
    r, raw, archive_store, segment_index
):
    ids = produce(r, "orders", 7, old=True)
    archiver = Archiver(
        archive_config(segment_max_age="1m"), raw, archive_store, segment_index
    )

    await archiver.pass_once({"orders": None})

    assert await segment_index.archived_until("orders") == ids[-1].decode()


async def test_every_entry_is_archived_once_in_order_across_passes(
    r, raw, archive_store, segment_index
):
    archiver = Archiver(
        archive_config(segment_max_age="1m"), raw, archive_store, segment_index
    )
    produced = []
    for round_ in range(4):
        ids = produce(r, "orders", 77, start=round_ * 77, old=True)
        produced += [
            (i.decode(), str(round_ * 77 + k).encode()) for k, i in enumerate(ids)
        ]
        await archiver.pass_once({"orders": None})

    assert await archived(segment_index, archive_store, "orders") == produced


async def test_segments_roll_by_size(r, raw, archive_store, segment_index):
    produce(r, "orders", 100)
    archiver = Archiver(
        archive_config(segment_max_size=1000, read_batch=5),
        raw,
        archive_store,
        segment_index,
    )

    await archiver.pass_once({"orders": None})

    metas = await segment_index.segments("orders")
    # Each entry carries ~45 bytes of fields: a segment closes past 1000 bytes.
    assert metas
    assert all(20 <= m.count <= 25 for m in metas)


async def test_a_new_archiver_resumes_after_the_last_recorded_segment(
    r, raw, archive_store, segment_index
):
    produce(r, "orders", 150, old=True)
    config = archive_config(segment_max_age="1m")
    await Archiver(config, raw, archive_store, segment_index).pass_once(
        {"orders": None}
    )
    produce(r, "orders", 60, start=150, old=True)

    await Archiver(config, raw, archive_store, segment_index).pass_once(
        {"orders": None}
    )

    numbers = [
        int(n) for _, n in await archived(segment_index, archive_store, "orders")
    ]
    assert numbers == list(range(210))


async def test_an_unrecorded_segment_is_deleted_once_its_range_is_archived(
    r, raw, archive_store, segment_index
):
    ids = produce(r, "orders", 120, old=True)
    entries = [(i, list(f.items())) for i, f in r.xrange("orders")]
    data, first = encode_segment("orders", entries[:50])
    await archive_store.put(first.name, data)
    await segment_index.record(first)
    data, orphan = encode_segment("orders", entries[50:90])
    await archive_store.put(orphan.name, data)  # as a crash after put leaves it
    archiver = Archiver(
        archive_config(segment_max_messages=100), raw, archive_store, segment_index
    )

    await archiver.pass_once({"orders": None})

    names = [info.name async for info in archive_store.list("")]
    recorded = [m.name for m in await segment_index.segments("orders")]
    assert orphan.name not in names
    assert sorted(names) == sorted(recorded)
    assert await segment_index.archived_until("orders") == ids[-1].decode()


async def test_an_empty_index_adopts_what_the_store_holds(
    r, raw, archive_store, segment_index
):
    produce(r, "orders", 120, old=True)
    entries = [(i, list(f.items())) for i, f in r.xrange("orders")]
    data, orphan = encode_segment("orders", entries[:40])
    await archive_store.put(orphan.name, data)
    archiver = Archiver(archive_config(), raw, archive_store, segment_index)

    await archiver.pass_once({"orders": None})

    numbers = [
        int(n) for _, n in await archived(segment_index, archive_store, "orders")
    ]
    assert numbers == list(range(120))


async def test_an_orphan_beyond_the_archived_point_waits_until_covered(
    r, raw, archive_store, segment_index
):
    produce(r, "orders", 100, old=True)
    entries = [(i, list(f.items())) for i, f in r.xrange("orders")]
    data, first = encode_segment("orders", entries[:30])
    await archive_store.put(first.name, data)
    await segment_index.record(first)
    data, orphan = encode_segment("orders", entries[60:80])
    await archive_store.put(orphan.name, data)
    archiver = Archiver(
        archive_config(segment_max_messages=50, segment_max_age="1d"),
        raw,
        archive_store,
        segment_index,
    )

    await archiver._start("orders")
    names_at_start = [info.name async for info in archive_store.list("")]
    await archiver.pass_once({"orders": None})  # archives 30..79 only

    names = [info.name async for info in archive_store.list("")]
    assert orphan.name in names_at_start
    assert orphan.name not in names
    assert [m.count for m in await segment_index.segments("orders")] == [30, 50]


async def test_many_streams_are_archived_by_a_few_workers(
    r, raw, archive_store, segment_index
):
    for k in range(20):
        produce(r, f"s{k}", 30, old=True)
    archiver = Archiver(
        archive_config(segment_max_age="1m"), raw, archive_store, segment_index
    )

    await archiver.pass_once({f"s{k}": None for k in range(20)})

    counts = [
        sum(m.count for m in await segment_index.segments(f"s{k}")) for k in range(20)
    ]
    assert counts == [30] * 20


async def test_bounded_runs_never_exceed_the_limit_and_keep_each_error():
    running, peak = 0, 0

    async def work(key, value):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        if key == "bad":
            raise ValueError(value)
        return value * 2

    items = [(f"k{i}", i) for i in range(50)] + [("bad", -1)]
    results = await run_bounded(work, items, 4)

    assert peak == 4
    assert results["k7"] == 14
    assert isinstance(results["bad"], ValueError)


async def test_a_stream_taken_back_under_a_new_epoch_forgets_what_it_knew(
    r, raw, archive_store, segment_index
):
    produce(r, "orders", 100, old=True)
    config = archive_config(segment_max_messages=50, segment_max_age="1d")
    first = Archiver(config, raw, archive_store, segment_index)
    await first.pass_once({"orders": 1})  # archives 0..49 and 50..99 under epoch 1
    produce(r, "orders", 60, start=100, old=True)
    # Meanwhile another instance held the lease and crashed between put and
    # record, leaving an unrecorded object that starts where the index stops.
    entries = [(i, list(f.items())) for i, f in r.xrange("orders")]
    data, orphan = encode_segment("orders", entries[100:130])
    await archive_store.put(orphan.name, data)

    await first.pass_once({"orders": 3})  # taken back under a newer epoch

    names = [info.name async for info in archive_store.list("")]
    assert orphan.name not in names
    assert sum(m.count for m in await segment_index.segments("orders")) == 150


async def test_an_orphan_the_previous_owner_writes_after_the_takeover_is_deleted(
    r, raw, archive_store, segment_index
):
    produce(r, "orders", 100, old=True)
    config = archive_config(segment_max_messages=50, segment_max_age="1d")
    archiver = Archiver(config, raw, archive_store, segment_index)
    await archiver._start("orders", 2)  # took the stream over; scanned the store
    # The previous owner's put lands only now (puts are not fenced); its record
    # will be refused, so nothing but this instance can clean it up.
    entries = [(i, list(f.items())) for i, f in r.xrange("orders")]
    data, late = encode_segment("orders", entries[:30])
    await archive_store.put(late.name, data)

    await archiver.pass_once({"orders": 2})

    names = [info.name async for info in archive_store.list("")]
    assert late.name not in names
    assert [m.count for m in await segment_index.segments("orders")] == [50, 50]


class SlowStore(LocalStore):
    """A local store whose puts take until ``go_on`` is set, once written."""

    def __init__(self, config: LocalStorageConfig) -> None:
        super().__init__(config)
        self.written = asyncio.Event()
        self.go_on = asyncio.Event()

    async def put(self, name: str, data: bytes) -> None:
        await super().put(name, data)
        self.written.set()
        await self.go_on.wait()


async def test_an_archiver_stopped_mid_put_records_the_segment_before_it_stops(
    r, raw, ar, archive_root
):
    store = SlowStore(LocalStorageConfig(path=archive_root))
    index = SegmentIndex(ar, store)
    produce(r, "orders", 100, old=True)
    archiver = Archiver(archive_config(), raw, store, index)
    archiving = asyncio.create_task(archiver.pass_once({"orders": None}))
    await asyncio.wait_for(store.written.wait(), 10)

    archiving.cancel()  # the broker is stopping
    await asyncio.sleep(0.05)
    store.go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(archiving, 10)

    recorded = await index.segments("orders")
    assert [m.count for m in recorded] == [100]
    assert [info.name async for info in store.list("")] == [recorded[0].name]

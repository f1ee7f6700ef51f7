"""The segment index: atomic records, fencing, range lookups, rebuilds, removal."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import redis.asyncio

from archive.samples import BASE_MS, entries_between
from streamweaver import keys
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.segment import SegmentMeta, encode_segment
from streamweaver.errors import ArchiveError, LeaseLostError
from streamweaver.storage.local import LocalStore


def _key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _without_write_facts(metas: list[SegmentMeta]) -> list[tuple]:
    return [
        (m.stream, m.name, m.first_id, m.last_id, m.count, m.size_bytes) for m in metas
    ]


@pytest.mark.redis_compat
async def test_recording_a_segment_advances_the_archived_point(
    segment_index: SegmentIndex, archive_segment: Callable
) -> None:
    assert await segment_index.archived_until("orders") is None
    meta = await archive_segment("orders", entries_between(1, 10))
    assert await segment_index.archived_until("orders") == meta.last_id
    assert await segment_index.segments("orders") == [meta]


@pytest.mark.redis_compat
async def test_recording_the_same_segment_twice_changes_nothing(
    segment_index: SegmentIndex, archive_segment: Callable, ar: redis.asyncio.Redis
) -> None:
    meta = await archive_segment("orders", entries_between(1, 10))
    await segment_index.record(meta)
    assert await segment_index.segments("orders") == [meta]
    state = await ar.hgetall(_key(keys.archive_state("orders")))
    assert state[b"archived_messages"] == b"10"


@pytest.mark.redis_compat
async def test_a_segment_starting_at_or_before_the_archived_point_is_refused(
    segment_index: SegmentIndex, archive_segment: Callable
) -> None:
    await archive_segment("orders", entries_between(1, 10))
    _, overlapping = encode_segment("orders", entries_between(10, 20))
    with pytest.raises(ArchiveError, match="already holds everything up to"):
        await segment_index.record(overlapping)
    _, older = encode_segment("orders", entries_between(0, 0))
    with pytest.raises(ArchiveError):
        await segment_index.record(older)
    assert len(await segment_index.segments("orders")) == 1


@pytest.mark.redis_compat
async def test_a_writer_with_an_old_lease_epoch_is_fenced_off(
    segment_index: SegmentIndex, ar: redis.asyncio.Redis
) -> None:
    await ar.hset(_key(keys.stream_lease("orders")), mapping={"epoch": 5, "owner": "b"})
    _, meta = encode_segment("orders", entries_between(1, 10))
    with pytest.raises(LeaseLostError, match="epoch 5"):
        await segment_index.record(meta, epoch=4)
    assert await segment_index.segments("orders") == []
    assert await segment_index.archived_until("orders") is None

    await segment_index.record(meta, epoch=5)
    assert await segment_index.archived_until("orders") == meta.last_id


async def test_without_a_lease_an_epoch_is_not_checked(
    segment_index: SegmentIndex,
) -> None:
    _, meta = encode_segment("orders", entries_between(1, 3))
    await segment_index.record(meta, epoch=1)
    assert await segment_index.segments("orders") == [meta]


async def test_rerecording_a_segment_with_a_new_checksum_replaces_it(
    segment_index: SegmentIndex, archive_segment: Callable
) -> None:
    meta = await archive_segment("orders", entries_between(1, 10))
    changed = dataclasses.replace(meta, sha256="0" * 64, created_ms=1)
    await segment_index.record(changed)
    assert await segment_index.segments("orders") == [changed]


@pytest.fixture
async def three_segments(archive_segment: Callable) -> list[SegmentMeta]:
    # IDs BASE_MS+1 .. BASE_MS+30, split 1-10, 11-20, 21-30; plus a segment whose
    # IDs share one millisecond, so equal scores must still sort by sequence.
    return [
        await archive_segment("s", entries_between(1, 10)),
        await archive_segment("s", entries_between(11, 20)),
        await archive_segment("s", entries_between(21, 30)),
    ]


def _id(n: int, seq: int = 0) -> str:
    return f"{BASE_MS + n}-{seq}"


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (None, None, [0, 1, 2]),
        (_id(1), _id(10), [0]),
        (_id(10), _id(11), [0, 1]),
        (_id(10, 1), _id(11), [1]),
        (_id(5), None, [0, 1, 2]),
        (None, _id(20), [0, 1]),
        (_id(20), _id(20), [1]),
        (_id(31), None, []),
        (None, f"{BASE_MS}-0", []),
        (str(BASE_MS + 10), str(BASE_MS + 10), [0]),
        (str(BASE_MS + 11), None, [1, 2]),
    ],
)
async def test_segments_are_looked_up_by_overlap_with_an_id_range(
    segment_index: SegmentIndex,
    three_segments: list[SegmentMeta],
    start: str | None,
    end: str | None,
    expected: list[int],
) -> None:
    found = await segment_index.segments("s", start, end)
    assert found == [three_segments[i] for i in expected]


@pytest.mark.redis_compat
async def test_segments_starting_in_the_same_millisecond_sort_by_sequence(
    segment_index: SegmentIndex, archive_segment: Callable
) -> None:
    same_ms = [(f"{BASE_MS}-{seq}".encode(), [b"k", b"v"]) for seq in range(25)]
    metas = [
        await archive_segment("s", same_ms[0:9]),
        await archive_segment("s", same_ms[9:12]),
        await archive_segment("s", same_ms[12:25]),
    ]
    assert await segment_index.segments("s") == metas
    assert await segment_index.segments("s", f"{BASE_MS}-10", f"{BASE_MS}-10") == [
        metas[1]
    ]
    assert await segment_index.segments("s", f"{BASE_MS}-13") == [metas[2]]


async def test_streams_come_from_the_index_or_else_from_the_store(
    segment_index: SegmentIndex, archive_segment: Callable, ar: redis.asyncio.Redis
) -> None:
    names = ["orders", "orders:eu", "{tag}x", "a}:segments:b", "caf\udce9"]
    for name in names:
        await archive_segment(name, entries_between(1, 2))
    assert await segment_index.streams() == sorted(names)
    await ar.flushall()
    assert await segment_index.streams() == sorted(names)


async def test_rebuild_after_flushall_recreates_the_index(
    segment_index: SegmentIndex,
    three_segments: list[SegmentMeta],
    ar: redis.asyncio.Redis,
) -> None:
    await ar.flushall()
    rebuilt = await segment_index.rebuild("s")
    assert _without_write_facts(rebuilt) == _without_write_facts(three_segments)
    assert _without_write_facts(await segment_index.segments("s")) == (
        _without_write_facts(three_segments)
    )
    assert await segment_index.archived_until("s") == three_segments[-1].last_id
    assert all(meta.sha256 == "" for meta in rebuilt)


@pytest.mark.redis_compat
async def test_rebuild_leaves_out_an_orphan_that_overlaps_the_recorded_chain(
    segment_index: SegmentIndex,
    archive_segment: Callable,
    ar: redis.asyncio.Redis,
) -> None:
    # A broker wrote 1..15 and died before recording it; its successor archived
    # 1..10 and 11..30 again with other boundaries.
    orphan = await archive_segment("s", entries_between(1, 15), record=False)
    chain = [
        await archive_segment("s", entries_between(1, 10)),
        await archive_segment("s", entries_between(11, 30)),
    ]
    await ar.flushall()
    rebuilt = await segment_index.rebuild("s")
    assert _without_write_facts(rebuilt) == _without_write_facts(chain)
    assert orphan.name not in {meta.name for meta in rebuilt}
    assert await segment_index.archived_until("s") == chain[-1].last_id


async def test_rebuild_keeps_checksums_redis_still_knows(
    segment_index: SegmentIndex, three_segments: list[SegmentMeta]
) -> None:
    assert await segment_index.rebuild("s") == three_segments


async def test_rebuild_skips_objects_that_are_not_segments(
    segment_index: SegmentIndex,
    three_segments: list[SegmentMeta],
    archive_store: LocalStore,
    ar: redis.asyncio.Redis,
) -> None:
    name = three_segments[1].name
    await archive_store.put(name, b"not parquet at all")
    await archive_store.put("s/notes.txt", b"hello")
    await ar.flushall()
    rebuilt = await segment_index.rebuild("s")
    assert [meta.name for meta in rebuilt] == [
        three_segments[0].name,
        three_segments[2].name,
    ]


async def test_ensure_rebuilds_only_a_missing_index(
    segment_index: SegmentIndex,
    three_segments: list[SegmentMeta],
    ar: redis.asyncio.Redis,
) -> None:
    await segment_index.ensure("s")
    assert await segment_index.segments("s") == three_segments
    await ar.flushall()
    await segment_index.ensure("s")
    assert len(await segment_index.segments("s")) == 3
    await segment_index.ensure("never-archived")
    assert await segment_index.segments("never-archived") == []


async def test_remove_forgets_segments_and_deletes_their_objects(
    segment_index: SegmentIndex,
    three_segments: list[SegmentMeta],
    archive_store: LocalStore,
) -> None:
    await segment_index.remove(three_segments[:2])
    assert await segment_index.segments("s") == three_segments[2:]
    names = [info.name async for info in archive_store.list("")]
    assert names == [three_segments[2].name]
    assert await segment_index.archived_until("s") == three_segments[2].last_id

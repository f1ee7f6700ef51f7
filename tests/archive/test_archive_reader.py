"""Reading the archive back: exact ranges, only covering segments, checked bytes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio

from archive.samples import BASE_MS, entries_between
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.reader import read_archive
from streamweaver.archive.segment import SegmentMeta
from streamweaver.errors import ArchiveError
from streamweaver.storage.local import LocalStore


@pytest.fixture
async def chain(archive_segment: Callable) -> list[SegmentMeta]:
    return [
        await archive_segment("s", entries_between(1, 10)),
        await archive_segment("s", entries_between(11, 20)),
        await archive_segment("s", entries_between(21, 30)),
    ]


async def _read(index: SegmentIndex, store: LocalStore, *args, **kwargs) -> list:
    batches = [b async for b in read_archive(index, store, "s", *args, **kwargs)]
    assert all(batches), "no batch may be empty"
    return [entry for batch in batches for entry in batch]


def _ns(entries: list) -> list[int]:
    return [int(stream_id.split("-")[0]) - BASE_MS for stream_id, _ in entries]


def _id(n: int) -> str:
    return f"{BASE_MS + n}-0"


async def test_everything_comes_back_in_order_with_its_fields(
    segment_index: SegmentIndex, archive_store: LocalStore, chain: list
) -> None:
    entries = await _read(segment_index, archive_store)
    assert _ns(entries) == list(range(1, 31))
    expected = entries_between(1, 30)
    assert entries == [
        (i.decode(), list(zip(f[0::2], f[1::2], strict=True))) for i, f in expected
    ]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (_id(10), _id(11), [10, 11]),
        (_id(11), _id(20), list(range(11, 21))),
        (_id(20), _id(20), [20]),
        (_id(1), _id(1), [1]),
        (_id(30), None, [30]),
        (None, _id(1), [1]),
        (f"{BASE_MS + 10}-1", f"{BASE_MS + 21}-0", list(range(11, 22))),
        (str(BASE_MS + 5), str(BASE_MS + 6), [5, 6]),
        (_id(31), None, []),
        (_id(0), _id(0), []),
    ],
)
async def test_ranges_are_inclusive_and_exact_at_segment_boundaries(
    segment_index: SegmentIndex,
    archive_store: LocalStore,
    chain: list,
    start: str | None,
    end: str | None,
    expected: list[int],
) -> None:
    assert _ns(await _read(segment_index, archive_store, start, end)) == expected


async def test_batches_hold_at_most_batch_size_entries(
    segment_index: SegmentIndex, archive_store: LocalStore, chain: list
) -> None:
    sizes = [
        len(batch)
        async for batch in read_archive(
            segment_index, archive_store, "s", _id(3), None, batch_size=4
        )
    ]
    assert max(sizes) <= 4
    assert sum(sizes) == 28


async def test_only_the_covering_segments_are_read(
    segment_index: SegmentIndex,
    archive_store: LocalStore,
    archive_root: Path,
    chain: list,
) -> None:
    (archive_root / chain[0].name).unlink()
    (archive_root / chain[2].name).unlink()
    assert _ns(await _read(segment_index, archive_store, _id(12), _id(13))) == [12, 13]


async def test_a_damaged_segment_is_refused(
    segment_index: SegmentIndex,
    archive_store: LocalStore,
    archive_root: Path,
    chain: list,
) -> None:
    path = archive_root / chain[1].name
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="damaged"):
        await _read(segment_index, archive_store)


async def test_a_missing_segment_is_an_archive_error(
    segment_index: SegmentIndex,
    archive_store: LocalStore,
    archive_root: Path,
    chain: list,
) -> None:
    (archive_root / chain[1].name).unlink()
    with pytest.raises(ArchiveError, match="cannot be read from the store"):
        await _read(segment_index, archive_store, _id(15), _id(15))


async def test_after_a_rebuild_checksums_are_learned_on_first_read(
    segment_index: SegmentIndex,
    archive_store: LocalStore,
    archive_root: Path,
    chain: list,
    ar: redis.asyncio.Redis,
) -> None:
    await ar.flushall()
    await segment_index.rebuild("s")
    assert _ns(await _read(segment_index, archive_store)) == list(range(1, 31))
    learned = [meta.sha256 for meta in await segment_index.segments("s")]
    assert learned == [meta.sha256 for meta in chain]

    path = archive_root / chain[0].name
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="damaged"):
        await _read(segment_index, archive_store)

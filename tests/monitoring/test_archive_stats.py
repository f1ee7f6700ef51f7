"""The archive summary counts each segment's bytes once while segments keep coming."""

from __future__ import annotations

import asyncio

from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.segment import SegmentMeta
from streamweaver.config.model import LocalStorageConfig
from streamweaver.monitoring.archive_stats import IndexArchiveSource
from streamweaver.storage.local import LocalStore

STREAM = "orders"


def meta(n: int) -> SegmentMeta:
    first_ms = 1_700_000_000_000 + 10 * n
    return SegmentMeta(
        stream=STREAM,
        name=f"{STREAM}/segment-{n}.parquet",
        first_id=f"{first_ms}-0",
        last_id=f"{first_ms + 9}-0",
        first_ms=first_ms,
        last_ms=first_ms + 9,
        count=10,
        size_bytes=1000 + n,
        sha256="",
        created_ms=first_ms,
    )


async def test_bytes_match_the_index_while_segments_are_recorded_meanwhile(
    ar, tmp_path
):
    store = LocalStore(LocalStorageConfig(path=tmp_path))
    index = SegmentIndex(ar, store)
    source = IndexArchiveSource(ar, store)
    recorded: list[SegmentMeta] = []

    async def record() -> None:
        for n in range(400):
            recorded.append(meta(n))
            await index.record(recorded[-1])

    async def summarize() -> list[tuple[int, int]]:
        seen = []
        while not writer.done():
            stats = (await source.summaries([STREAM]))[STREAM]
            seen.append((stats.segments, stats.bytes))
        return seen

    writer = asyncio.create_task(record())
    seen = await summarize()
    await writer
    final = (await source.summaries([STREAM]))[STREAM]

    sizes = [m.size_bytes for m in recorded]
    assert len(seen) > 10  # the summaries did interleave with the recording
    for segments, size in seen:
        assert size == sum(sizes[:segments]), (segments, size)
    assert (final.segments, final.bytes) == (400, sum(sizes))

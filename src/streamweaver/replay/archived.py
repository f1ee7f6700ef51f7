"""The archive as replay reads it: the segment index and the store behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import redis.asyncio

from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.reader import read_archive
from streamweaver.archive.segment import ROW_GROUP_ROWS
from streamweaver.client.ids import StreamId, parse_id
from streamweaver.replay.tiers import Entry
from streamweaver.storage.base import Store


class IndexedArchive:
    """Reads a stream's archived range through the index, segment by segment."""

    def __init__(self, index: SegmentIndex, store: Store) -> None:
        self.index = index
        self.store = store

    async def read(
        self, stream: str, start: StreamId, end: StreamId, batch_size: int
    ) -> AsyncIterator[list[Entry]]:
        """Yield the archived entries of ``[start, end]`` in batches."""
        pending: list[Entry] = []
        async for batch in read_archive(
            self.index, self.store, stream, str(start), str(end), _read_size(batch_size)
        ):
            pending += [
                (entry_id, [item for pair in pairs for item in pair])
                for entry_id, pairs in batch
            ]
            while len(pending) >= batch_size:
                yield pending[:batch_size]
                pending = pending[batch_size:]
        if pending:
            yield pending

    async def archived_until(self, stream: str) -> StreamId | None:
        """The stream's last archived ID; rebuilds a lost index from the store."""
        until = await self.index.archived_until(stream)
        if until is None:
            await self.index.ensure(stream)
            until = await self.index.archived_until(stream)
        return None if until is None else parse_id(until)

    async def first_last_count(
        self, stream: str, start: StreamId, end: StreamId
    ) -> tuple[StreamId, StreamId, int] | None:
        """Bounds and message count of the archived part of ``[start, end]``.

        From the index alone: the count is of whole segments, so it may
        include a few entries beyond the range's edges.
        """
        metas = await self.index.segments(stream, str(start), str(end))
        if not metas:
            return None
        first = max(start, parse_id(metas[0].first_id))
        last = min(end, parse_id(metas[-1].last_id))
        return first, last, sum(meta.count for meta in metas)


def _read_size(batch_size: int) -> int:
    # The archive reader fails ("nested data conversions not implemented for
    # chunked array outputs") when one of its batches spans two Parquet row
    # groups. Row groups hold ROW_GROUP_ROWS (a power of two) rows, so reading
    # in powers of two up to that size never spans one; batches are re-cut here.
    return min(ROW_GROUP_ROWS, 1 << max(0, batch_size - 1).bit_length())


def archive_for(
    client: redis.asyncio.Redis, store: Store | None
) -> IndexedArchive | None:
    """The archive of a broker or client with ``store``; None without a store."""
    if store is None:
        return None
    return IndexedArchive(SegmentIndex(client, store), store)

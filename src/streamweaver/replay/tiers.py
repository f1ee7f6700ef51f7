"""One ordered read of a stream's range across the archive and Redis.

The archive holds a stream's older entries and Redis its hot tail; the two
overlap while archived entries wait to be trimmed. A range is read as the
archived part first, then Redis from just after the last archived entry read,
so the seam has no duplicate. Retention may trim Redis while the read goes on:
whenever the entry the read stopped at is no longer in Redis, the part between
it and Redis's next entry is taken from the archive (retention only trims what
is archived), so the seam has no gap either. Memory is bounded by the batch size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import redis.asyncio

from streamweaver.archive.rawread import xrange_raw
from streamweaver.client.ids import StreamId, parse_id

Entry = tuple[str, Sequence[bytes]]
"""An entry: its ID and its flat field/value list, as stored."""


class ArchiveSource(Protocol):
    """The archived part of streams (see :mod:`streamweaver.replay.archived`)."""

    def read(
        self, stream: str, start: StreamId, end: StreamId, batch_size: int
    ) -> AsyncIterator[list[Entry]]:
        """Yield the archived entries of ``[start, end]`` in batches."""

    async def archived_until(self, stream: str) -> StreamId | None:
        """The stream's last archived ID, None if nothing is archived."""

    async def first_last_count(
        self, stream: str, start: StreamId, end: StreamId
    ) -> tuple[StreamId, StreamId, int] | None:
        """Bounds and (approximate) count of the archived part of a range."""


async def read_range(
    client: redis.asyncio.Redis,
    archive: ArchiveSource | None,
    stream: str,
    start: StreamId,
    end: StreamId,
    *,
    batch_size: int,
    after: StreamId | None = None,
) -> AsyncIterator[list[Entry]]:
    """Yield the entries of ``[start, end]`` (after ``after``, if given) in order.

    ``client`` must return raw XRANGE replies (see
    :func:`streamweaver.archive.rawread.raw_client`).
    """
    cursor = after if after is not None and after >= start else None
    if archive is not None:
        lower = start if cursor is None else max(start, cursor.next())
        if lower <= end:
            async for batch in archive.read(stream, lower, end, batch_size):
                cursor = parse_id(batch[-1][0])
                yield batch

    gap_checked: StreamId | bool | None = False
    while True:
        entries = await _redis_batch(client, stream, start, end, cursor, batch_size)
        contiguous = cursor is not None and bool(entries) and entries[0][0] == cursor
        if contiguous:
            entries = entries[1:]
        elif archive is not None and gap_checked != cursor:
            # Redis no longer holds the entry we stopped at: what lay between
            # it and Redis's next entry was trimmed, hence is in the archive.
            gap_checked = cursor
            lower = start if cursor is None else cursor.next()
            upper = entries[0][0].previous() if entries else end
            filled = False
            if lower <= upper:
                async for batch in archive.read(stream, lower, upper, batch_size):
                    cursor = parse_id(batch[-1][0])
                    filled = True
                    yield batch
            if filled:
                continue
        if not entries:
            return
        cursor = entries[-1][0]
        yield [(str(entry_id), items) for entry_id, items in entries]


async def _redis_batch(
    client: redis.asyncio.Redis,
    stream: str,
    start: StreamId,
    end: StreamId,
    cursor: StreamId | None,
    batch_size: int,
) -> list[tuple[StreamId, Sequence[bytes]]]:
    # From the cursor inclusive: finding it again proves nothing was trimmed
    # between it and what follows.
    lower = str(start) if cursor is None else str(cursor)
    count = batch_size if cursor is None else batch_size + 1
    raw = await xrange_raw(client, stream, lower, str(end), count)
    return [(parse_id(entry_id), items) for entry_id, items in raw]

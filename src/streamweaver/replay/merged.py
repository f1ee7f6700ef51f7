"""Reading a logical stream's partitions as one range, merged by ID.

Each partition is read across both tiers (:func:`.tiers.read_range`) and the
entries are merged by ID, equal IDs in partition order, which is the order
every reader of a logical stream uses (docs/protocol.md, "Partitioned
streams"). A replay resumes from a position in that order, stored as the
job's cursor ``<id>/<partition>``: everything at or before it was written.
"""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import AsyncIterator, Sequence

import redis.asyncio

from streamweaver.client.ids import MIN_ID, StreamId, parse_id
from streamweaver.replay.tiers import ArchiveSource, Entry, read_range

MergedEntry = tuple[str, Sequence[bytes], int]
"""An entry of a logical stream: its ID, flat field/value list and partition."""


def cursor_of(entry: MergedEntry) -> str:
    """The cursor that says ``entry`` and everything before it was written."""
    return f"{entry[0]}/{entry[2]}"


def parse_cursor(cursor: str) -> tuple[StreamId, int] | None:
    """The merged position a cursor names; None for an empty one (the start)."""
    if not cursor:
        return None
    entry_id, _, partition = cursor.rpartition("/")
    return parse_id(entry_id), int(partition)


def resume_after(position: tuple[StreamId, int] | None, partition: int) -> StreamId:
    """Where partition ``partition`` resumes: after this ID (exclusive).

    A partition after the cursor's has not had the cursor's own ID yet.
    """
    if position is None:
        return MIN_ID
    entry_id, written_up_to = position
    if partition <= written_up_to or entry_id == MIN_ID:
        return entry_id
    return entry_id.previous()


async def read_merged(
    client: redis.asyncio.Redis,
    archive: ArchiveSource | None,
    partitions: Sequence[str],
    start: StreamId,
    end: StreamId,
    *,
    batch_size: int,
    cursor: str = "",
) -> AsyncIterator[list[MergedEntry]]:
    """Yield ``[start, end]`` of every partition, merged, in batches."""
    position = parse_cursor(cursor)
    parts = [
        _entries(
            read_range(
                client,
                archive,
                name,
                start,
                end,
                batch_size=batch_size,
                after=resume_after(position, index) if position else None,
            ),
            index,
        )
        for index, name in enumerate(partitions)
    ]
    batch: list[MergedEntry] = []
    try:
        async for entry in _merge(parts):
            batch.append(entry)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        for part in parts:
            with contextlib.suppress(RuntimeError):
                await part.aclose()


async def _entries(
    batches: AsyncIterator[list[Entry]], partition: int
) -> AsyncIterator[MergedEntry]:
    try:
        async for batch in batches:
            for entry_id, items in batch:
                yield _text(entry_id), items, partition
    finally:
        await batches.aclose()


async def _merge(parts: list[AsyncIterator[MergedEntry]]) -> AsyncIterator[MergedEntry]:
    heads: list[tuple[StreamId, int, MergedEntry]] = []
    for index, part in enumerate(parts):
        first = await anext(part, None)
        if first is not None:
            heads.append((parse_id(first[0]), index, first))
    heapq.heapify(heads)
    while heads:
        _, index, entry = heads[0]
        yield entry
        following = await anext(parts[index], None)
        if following is None:
            heapq.heappop(heads)
        else:
            heapq.heapreplace(heads, (parse_id(following[0]), index, following))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

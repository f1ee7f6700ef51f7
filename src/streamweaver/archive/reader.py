"""Reading archived messages back in ID order, one segment in memory at a time."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Iterator

import pyarrow as pa

from streamweaver.archive import layout
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.segment import (
    Entry,
    SegmentMeta,
    batch_entries,
    iter_batches,
)
from streamweaver.errors import ArchiveError, StorageError, StorageUnavailableError
from streamweaver.storage.base import Store

log = logging.getLogger(__name__)


async def read_archive(
    index: SegmentIndex,
    store: Store,
    stream: str,
    start_id: str | None = None,
    end_id: str | None = None,
    batch_size: int = 1000,
) -> AsyncIterator[list[Entry]]:
    """Archived entries of ``stream`` in ``[start_id, end_id]``, in ID order.

    Yields non-empty lists of at most ``batch_size`` entries. Each segment's
    checksum is verified against the index before any of it is used.
    """
    batches = _read(index, store, stream, start_id, end_id, batch_size, python=True)
    async for batch in batches:
        yield await asyncio.to_thread(batch_entries, batch)


async def read_archive_batches(
    index: SegmentIndex,
    store: Store,
    stream: str,
    start_id: str | None = None,
    end_id: str | None = None,
    batch_size: int = 1000,
) -> AsyncIterator[pa.RecordBatch]:
    """Like :func:`read_archive`, as Arrow record batches in the segment schema."""
    batches = _read(index, store, stream, start_id, end_id, batch_size, python=False)
    async for batch in batches:
        yield batch


async def _read(
    index: SegmentIndex,
    store: Store,
    stream: str,
    start_id: str | None,
    end_id: str | None,
    batch_size: int,
    *,
    python: bool,
) -> AsyncIterator[pa.RecordBatch]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    start = None if start_id is None else layout.parse_bound(start_id, 0)
    end = None if end_id is None else layout.parse_bound(end_id, layout.MAX_PART)
    for meta in await index.segments(stream, start_id, end_id):
        data = await load_segment(index, store, meta)
        batches = _filtered(data, meta, start, end, batch_size, python=python)
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            yield batch


async def load_segment(index: SegmentIndex, store: Store, meta: SegmentMeta) -> bytes:
    """A segment's bytes, checked against the index's checksum (learned if unknown)."""
    try:
        data = await store.get(meta.name)
    except StorageUnavailableError:
        raise
    except StorageError as exc:
        raise ArchiveError(
            f"segment {meta.name} of stream {meta.stream!r} is in the index but "
            f"cannot be read from the store: {exc}",
            stream=meta.stream,
        ) from exc
    digest = await asyncio.to_thread(_sha256, data)
    if not meta.sha256:
        log.info(
            "Learned the checksum of segment %s of stream %r (indexed from its "
            "footer after a rebuild).",
            meta.name,
            meta.stream,
        )
        await index.learn_checksum(meta, digest)
    elif digest != meta.sha256:
        raise ArchiveError(
            f"segment {meta.name} of stream {meta.stream!r} is damaged: its "
            f"SHA-256 is {digest}, the index recorded {meta.sha256}",
            stream=meta.stream,
        )
    return data


def _filtered(
    data: bytes,
    meta: SegmentMeta,
    start: tuple[int, int] | None,
    end: tuple[int, int] | None,
    batch_size: int,
    *,
    python: bool,
) -> Iterator[pa.RecordBatch]:
    first, last = layout.parse_id(meta.first_id), layout.parse_id(meta.last_id)
    whole = (start is None or start <= first) and (end is None or last <= end)
    # Python entries need only two columns, and decode faster with field names
    # as a dictionary; Arrow output keeps the segment's own schema.
    columns = ("id", "fields") if python else None
    batches = iter_batches(data, batch_size, columns, dictionary_keys=python)
    for batch in batches:
        if not whole:
            batch = batch.filter(_in_range(batch.column("id"), start, end))
        if batch.num_rows:
            yield batch


def _in_range(
    ids: pa.Array, start: tuple[int, int] | None, end: tuple[int, int] | None
) -> pa.Array:
    # Compare parsed IDs in Python: the int64 columns cannot hold every ID,
    # and only the (at most two) boundary segments of a read come here.
    parsed = [layout.parse_id(value) for value in ids.to_pylist()]
    return pa.array(
        [
            (start is None or start <= stream_id) and (end is None or stream_id <= end)
            for stream_id in parsed
        ],
        pa.bool_(),
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

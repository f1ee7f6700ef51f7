"""Rebuilding a stream's segment list from the store alone.

Only object names and Parquet footers are read (ranged reads of each file's
tail), so a rebuild costs one or two small requests per segment.

After Redis lost the index, the store may hold objects that overlap: a broker
that was killed (or fenced out) after writing a segment but before recording
it leaves an orphan, and its successor archives the same entries again with
different boundaries. The rebuilt chain is the set of mutually non-overlapping
segments that holds the most messages; among equally large sets it prefers the
one written more recently (by the sum of the objects' write times), because an
orphan is always older than what replaced it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from bisect import bisect_left
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from streamweaver.archive import layout
from streamweaver.archive.layout import parse_id
from streamweaver.archive.segment import FORMAT_VERSION, META_PREFIX, SegmentMeta
from streamweaver.errors import ArchiveError
from streamweaver.storage.base import ObjectInfo, Store

log = logging.getLogger(__name__)

FOOTER_TAIL_BYTES = 8
"""A Parquet file ends with the footer's length (4 bytes LE) and ``PAR1``."""

_FOOTER_GUESS_BYTES = 64 * 1024
_FOOTER_READS = 16


async def stored_segments(
    store: Store, stream: str, known: dict[str, SegmentMeta]
) -> list[SegmentMeta]:
    """Every readable segment object of ``stream``, described by its footer.

    ``known`` maps names to metas Redis still has; their checksums and write
    times are kept when the object's size still matches.
    """
    infos = [
        info
        async for info in store.list(layout.stream_prefix(stream))
        if _is_segment_of(stream, info)
    ]
    limit = asyncio.Semaphore(_FOOTER_READS)

    async def read(info: ObjectInfo) -> SegmentMeta | None:
        async with limit:
            return await _footer_meta(store, stream, info, known.get(info.name))

    found = await asyncio.gather(*(read(info) for info in infos))
    return [meta for meta in found if meta is not None]


def choose_chain(candidates: Sequence[SegmentMeta]) -> list[SegmentMeta]:
    """The best non-overlapping segments among ``candidates``, in ID order."""
    ordered = sorted(
        candidates,
        key=lambda meta: (parse_id(meta.last_id), parse_id(meta.first_id), meta.name),
    )
    lasts = [parse_id(meta.last_id) for meta in ordered]
    # Weighted interval scheduling: best[i] is the best value using the first
    # i segments, and taken[i] where the chain continues if segment i-1 is in.
    best: list[tuple[int, int]] = [(0, 0)]
    taken: list[int | None] = [None]
    for i, meta in enumerate(ordered):
        before = bisect_left(lasts, parse_id(meta.first_id), 0, i)
        value = (best[before][0] + meta.count, best[before][1] + meta.created_ms)
        if value > best[i]:
            best.append(value)
            taken.append(before)
        else:
            best.append(best[i])
            taken.append(None)

    chain = []
    i = len(ordered)
    while i > 0:
        previous = taken[i]
        if previous is None:
            i -= 1
        else:
            chain.append(ordered[i - 1])
            i = previous
    chain.reverse()
    return chain


def meta_from_footer(
    metadata: pq.FileMetaData, name: str, size_bytes: int, created_ms: int
) -> SegmentMeta:
    """A segment's meta from its footer; the checksum stays unknown ("")."""
    kv = {
        key.decode(): value.decode()
        for key, value in (metadata.metadata or {}).items()
        if key.startswith(META_PREFIX.encode())
    }
    try:
        version = int(kv[META_PREFIX + "format_version"])
        stream = layout.unescape_stream(kv[META_PREFIX + "stream"])
        first_id = kv[META_PREFIX + "first_id"]
        last_id = kv[META_PREFIX + "last_id"]
        count = int(kv[META_PREFIX + "count"])
        first, last = layout.parse_id(first_id), layout.parse_id(last_id)
    except (KeyError, ValueError) as exc:
        raise ArchiveError(
            f"{name}: the footer is not a StreamWeaver segment's"
        ) from exc
    if version > FORMAT_VERSION:
        raise ArchiveError(
            f"{name}: written in archive format {version}; this version reads up to "
            f"{FORMAT_VERSION}",
            stream=stream,
        )
    if count != metadata.num_rows:
        raise ArchiveError(
            f"{name}: the footer says {count} messages but holds {metadata.num_rows}",
            stream=stream,
        )
    return SegmentMeta(
        stream=stream,
        name=name,
        first_id=first_id,
        last_id=last_id,
        first_ms=first[0],
        last_ms=last[0],
        count=count,
        size_bytes=size_bytes,
        sha256="",
        created_ms=created_ms,
    )


def footer_length(tail: bytes) -> int:
    """The footer's length from a file's last bytes (at least 8 of them)."""
    if len(tail) < FOOTER_TAIL_BYTES or tail[-4:] != b"PAR1":
        raise ArchiveError("the object does not end like a Parquet file")
    return int.from_bytes(tail[-8:-4], "little")


def parse_footer(footer: bytes) -> pq.FileMetaData:
    """Parquet metadata from a file's footer bytes (the footer, length and magic)."""
    try:
        return pq.read_metadata(pa.BufferReader(b"PAR1" + footer))
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveError(f"the Parquet footer cannot be read: {exc}") from exc


async def _footer_meta(
    store: Store, stream: str, info: ObjectInfo, known: SegmentMeta | None
) -> SegmentMeta | None:
    size = info.size_bytes
    try:
        tail = await store.get_range(
            info.name, max(0, size - _FOOTER_GUESS_BYTES), size
        )
        needed = footer_length(tail) + FOOTER_TAIL_BYTES
        if needed > len(tail):
            tail = await store.get_range(info.name, max(0, size - needed), size)
        created_ms = _ms(info) if known is None else known.created_ms
        meta = meta_from_footer(
            parse_footer(tail[-needed:]), info.name, size, created_ms
        )
    except ArchiveError as exc:
        log.warning(
            "Left object %s out of the index of stream %r: %s",
            info.name,
            stream,
            exc,
        )
        return None
    if (meta.stream, meta.first_id, meta.last_id) != layout.parse_segment_name(
        info.name
    ):
        log.warning(
            "Left object %s out of the index of stream %r: its footer describes "
            "%r %s..%s instead.",
            info.name,
            stream,
            meta.stream,
            meta.first_id,
            meta.last_id,
        )
        return None
    if known is not None and known.size_bytes == size:
        meta = dataclasses.replace(meta, sha256=known.sha256)
    return meta


def _is_segment_of(stream: str, info: ObjectInfo) -> bool:
    parsed = layout.parse_segment_name(info.name)
    if parsed is None or parsed[0] != stream:
        log.warning(
            "Ignoring object %s under the archive of stream %r: it is not named "
            "like a segment.",
            info.name,
            stream,
        )
        return False
    return True


def _ms(info: ObjectInfo) -> int:
    return 0 if info.modified is None else int(info.modified.timestamp() * 1000)

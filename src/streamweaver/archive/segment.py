"""One archive segment: a Parquet file holding a run of one stream's entries.

Each row is one message: ``id`` (the stream ID as text), ``ms`` and ``seq``
(its two numbers, int64; null for the rare explicit IDs above 2^63-1), ``ts``
(the ID's time as a UTC millisecond timestamp) and ``fields``, the message's
field/value pairs in their original order as ``list<struct<key: binary,
value: binary>>``. The footer's key/value metadata names the stream, the ID
range, the count and the format version, so a store can be indexed from the
footers alone. See docs/archive-format.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import hashlib
import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streamweaver import __version__
from streamweaver.archive import layout
from streamweaver.archive.columns import FIELDS_TYPE, to_columns
from streamweaver.errors import ArchiveError

FORMAT_VERSION = 1
"""Bumped when a change to the file layout would mislead an older reader."""

META_PREFIX = "streamweaver."
ROW_GROUP_ROWS = 65_536

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("ms", pa.int64()),
        pa.field("seq", pa.int64()),
        pa.field("ts", pa.timestamp("ms", tz="UTC")),
        pa.field("fields", FIELDS_TYPE, nullable=False),
    ]
)

Entry = tuple[str, list[tuple[bytes, bytes]]]
"""A message as the archive hands it back: ID and ordered field/value pairs."""

RawFields = Sequence[tuple[bytes, bytes]] | Sequence[bytes] | Mapping[bytes, bytes]

KEY_COLUMN = "fields.list.element.key"


@dataclass(frozen=True, slots=True)
class SegmentMeta:
    """What the index knows about one stored segment."""

    stream: str
    name: str
    first_id: str
    last_id: str
    first_ms: int
    last_ms: int
    count: int
    size_bytes: int
    sha256: str
    created_ms: int


def encode_segment(
    stream: str, entries: Sequence[tuple[bytes | str, RawFields]]
) -> tuple[bytes, SegmentMeta]:
    """Encode entries in ID order as a Parquet segment; return it and its meta.

    Each entry is ``(id, fields)`` as Redis replies: fields as a flat
    ``[k, v, k, v]`` list, a sequence of ``(k, v)`` pairs or a mapping.
    """
    if not entries:
        raise ArchiveError("a segment needs at least one entry", stream=stream)
    return _encode_columns(stream, to_columns(stream, entries))


def _encode_columns(
    stream: str, columns: Sequence[pa.Array]
) -> tuple[bytes, SegmentMeta]:
    id_array, ms, seq, fields = columns
    first_id, last_id = id_array[0].as_py(), id_array[-1].as_py()
    created_ms = time.time_ns() // 1_000_000

    table = pa.Table.from_arrays(
        [id_array, ms, seq, pc.cast(ms, SCHEMA.field("ts").type), fields],
        schema=SCHEMA.with_metadata(_footer(stream, first_id, last_id, len(id_array))),
    )
    data = _write_parquet(table)
    first, last = layout.parse_id(first_id), layout.parse_id(last_id)
    meta = SegmentMeta(
        stream=stream,
        name=layout.segment_name(stream, first_id, last_id),
        first_id=first_id,
        last_id=last_id,
        first_ms=first[0],
        last_ms=last[0],
        count=len(id_array),
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        created_ms=created_ms,
    )
    return data, meta


def decode_segment(data: bytes) -> pa.Table:
    """The whole segment as an Arrow table (page checksums verified)."""
    try:
        return open_parquet(data).read()
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveError(f"the segment cannot be decoded: {exc}") from exc


def iter_entries(data: bytes) -> Iterator[Entry]:
    """Every message of a segment in ID order, one row group at a time."""
    for batch in iter_batches(data):
        yield from batch_entries(batch)


def iter_batches(
    data: bytes,
    batch_size: int = ROW_GROUP_ROWS,
    columns: Sequence[str] | None = ("id", "fields"),
    *,
    dictionary_keys: bool = True,
) -> Iterator[pa.RecordBatch]:
    """The segment in record batches: the given columns, or all of them (None).

    With ``dictionary_keys`` field names come as a dictionary array, which
    decodes several times faster than plain binary when names repeat.
    """
    try:
        parquet = open_parquet(data, dictionary_keys=dictionary_keys)
        chosen = None if columns is None else list(columns)
        yield from parquet.iter_batches(batch_size=batch_size, columns=chosen)
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveError(f"the segment cannot be decoded: {exc}") from exc


def open_parquet(data: bytes, *, dictionary_keys: bool = False) -> pq.ParquetFile:
    """A Parquet reader over segment bytes that checks every page's CRC."""
    return pq.ParquetFile(
        pa.BufferReader(data),
        page_checksum_verification=True,
        read_dictionary=[KEY_COLUMN] if dictionary_keys else None,
    )


def batch_entries(batch: pa.RecordBatch | pa.Table) -> list[Entry]:
    """Turn a batch with ``id`` and ``fields`` columns into Python entries."""
    with gc_paused():
        ids = batch.column("id").to_pylist()
        fields = batch.column("fields")
        if isinstance(fields, pa.ChunkedArray):
            fields = fields.combine_chunks()
        lengths = pc.fill_null(pc.list_value_length(fields), 0).to_pylist()
        keys, values = fields.flatten().flatten()
        pairs = list(zip(_pylist(keys), values.to_pylist(), strict=True))
        bounds = itertools.pairwise(itertools.accumulate(lengths, initial=0))
        return [
            (stream_id, pairs[start:end])
            for stream_id, (start, end) in zip(ids, bounds, strict=True)
        ]


def _pylist(array: pa.Array) -> list[Any]:
    if isinstance(array, pa.DictionaryArray):
        # One bytes object per distinct name instead of one per field.
        names = array.dictionary.to_pylist()
        return list(map(names.__getitem__, array.indices.to_pylist()))
    return array.to_pylist()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Reading or decoding a segment allocates millions of small objects; the
    collector counts allocations and traverses the growing segment over and
    over, though nothing built here can form a cycle. Pausing it halves the
    cost of reading and decoding.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _footer(stream: str, first_id: str, last_id: str, count: int) -> dict[str, str]:
    # No write time here: the same entries must encode to the same bytes, so a
    # retried or fenced-out write of the same segment replaces it harmlessly.
    return {
        META_PREFIX + "format_version": str(FORMAT_VERSION),
        META_PREFIX + "stream": layout.escape_stream(stream),
        META_PREFIX + "first_id": first_id,
        META_PREFIX + "last_id": last_id,
        META_PREFIX + "count": str(count),
        META_PREFIX + "writer": f"streamweaver {__version__}",
    }


def _write_parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        row_group_size=ROW_GROUP_ROWS,
        # Statistics on the ID columns let engines skip row groups by ID or
        # time; on message values they would only bloat the footer.
        write_statistics=["id", "ms", "seq", "ts"],
        use_dictionary=[KEY_COLUMN],
        write_page_checksum=True,
    )
    return sink.getvalue().to_pybytes()


class SegmentBuilder:
    """A segment being read, kept as Arrow columns one chunk at a time.

    The archiver reads a segment in chunks of ``archive.read_batch`` entries.
    Converting each chunk at once means a whole segment never exists as Python
    objects, which take about twice the memory of its columns and would add to
    the encoder's buffers at the memory peak.
    """

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.count = 0
        self.oldest_ms: int | None = None
        self._chunks: list[tuple[pa.Array, pa.Array, pa.Array, pa.Array]] = []
        self._last_id: tuple[int, int] | None = None

    def add(self, entries: Sequence[tuple[bytes | str, RawFields]]) -> None:
        """Append entries that follow the ones added before, in ID order."""
        columns = to_columns(self.stream, entries)
        first = layout.parse_id(columns[0][0].as_py())
        if self._last_id is not None and first <= self._last_id:
            raise ArchiveError(
                f"entries must be in increasing ID order, but {columns[0][0]} "
                "follows a later ID",
                stream=self.stream,
            )
        self._last_id = layout.parse_id(columns[0][-1].as_py())
        if self.oldest_ms is None:
            self.oldest_ms = first[0]
        self._chunks.append(columns)
        self.count += len(columns[0])

    def encode(self) -> tuple[bytes, SegmentMeta]:
        """Encode what was added (emptying the builder), then free the buffers."""
        if not self._chunks:
            raise ArchiveError("a segment needs at least one entry", stream=self.stream)
        chunks, self._chunks = self._chunks, []
        # One contiguous array per column: Parquet pages would otherwise break
        # at chunk boundaries, and the same entries must give the same bytes
        # however they were read (a repeated write replaces an object as is).
        columns = tuple(pa.concat_arrays([c[i] for c in chunks]) for i in range(4))
        del chunks
        encoded = _encode_columns(self.stream, columns)
        del columns
        # Arrow's allocator keeps freed pages for reuse; a broker holding ~100 MB
        # of them between segments looks like a leak from the outside.
        pa.default_memory_pool().release_unused()
        _trim_malloc()
        return encoded


def _load_malloc_trim() -> Callable[[], None]:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None  # not glibc: nothing to do
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


# The encoder's large buffers are freed in a worker thread's malloc arena,
# which glibc keeps mapped; giving them back keeps the broker's RSS flat.
_trim_malloc = _load_malloc_trim()

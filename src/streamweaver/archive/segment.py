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

import gc
import hashlib
import itertools
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streamweaver import __version__
from streamweaver.archive import layout
from streamweaver.errors import ArchiveError, EncodingError

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
        pa.field(
            "fields",
            pa.list_(
                pa.struct(
                    [
                        pa.field("key", pa.binary(), nullable=False),
                        pa.field("value", pa.binary(), nullable=False),
                    ]
                )
            ),
            nullable=False,
        ),
    ]
)

Entry = tuple[str, list[tuple[bytes, bytes]]]
"""A message as the archive hands it back: ID and ordered field/value pairs."""

RawFields = Sequence[tuple[bytes, bytes]] | Sequence[bytes] | Mapping[bytes, bytes]

_INT64_MAX = 2**63 - 1
_KEY_COLUMN = "fields.list.element.key"


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
    try:
        ids, keys, values, counts = _flatten_fast(entries)
        fields = _fields_array(keys, values, counts)
    except (TypeError, pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError):
        ids, keys, values, counts = _flatten_checked(stream, entries)
        fields = _fields_array(keys, values, counts)
    id_array, ms, seq = _id_columns(stream, ids)
    first_id, last_id = id_array[0].as_py(), id_array[-1].as_py()
    created_ms = time.time_ns() // 1_000_000

    table = pa.Table.from_arrays(
        [id_array, ms, seq, pc.cast(ms, SCHEMA.field("ts").type), fields],
        schema=SCHEMA.with_metadata(_footer(stream, first_id, last_id, len(ids))),
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
        count=len(ids),
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
        read_dictionary=[_KEY_COLUMN] if dictionary_keys else None,
    )


def batch_entries(batch: pa.RecordBatch | pa.Table) -> list[Entry]:
    """Turn a batch with ``id`` and ``fields`` columns into Python entries."""
    with _gc_paused():
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


def _pylist(array: pa.Array) -> list[Any]:
    if isinstance(array, pa.DictionaryArray):
        # One bytes object per distinct name instead of one per field.
        names = array.dictionary.to_pylist()
        return list(map(names.__getitem__, array.indices.to_pylist()))
    return array.to_pylist()


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Building millions of small tuples triggers the cyclic collector over
    # and over (it counts allocations) although none of them can form a
    # cycle; pausing it makes decoding about twice as fast.
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
        use_dictionary=[_KEY_COLUMN],
        write_page_checksum=True,
    )
    return sink.getvalue().to_pybytes()


def _flatten_fast(
    entries: Sequence[tuple[Any, Any]],
) -> tuple[list[Any], list[Any], list[Any], list[int]]:
    # Assumes every entry has the shape of the first non-empty one; anything
    # else makes a later step raise TypeError and we take the checked path.
    ids = [entry[0] for entry in entries]
    bodies = [entry[1] for entry in entries]
    sample = next((body for body in bodies if body), None)
    if sample is None:
        return ids, [], [], [0] * len(bodies)
    if isinstance(sample, Mapping):
        if not all(isinstance(body, Mapping) for body in bodies):
            raise TypeError("mixed field shapes")
        keys = list(itertools.chain.from_iterable(bodies))
        values = list(itertools.chain.from_iterable(b.values() for b in bodies))
        return ids, keys, values, list(map(len, bodies))
    if isinstance(sample[0], bytes | str):
        lengths = list(map(len, bodies))
        if any(length & 1 for length in lengths):
            raise TypeError("a flat field list has an odd length")
        flat = list(itertools.chain.from_iterable(bodies))
        return ids, flat[0::2], flat[1::2], [length >> 1 for length in lengths]
    pairs = list(itertools.chain.from_iterable(bodies))
    if any(len(pair) != 2 for pair in pairs):
        raise TypeError("a field pair does not have two items")
    keys = list(map(itemgetter(0), pairs))
    values = list(map(itemgetter(1), pairs))
    return ids, keys, values, list(map(len, bodies))


def _flatten_checked(
    stream: str, entries: Sequence[tuple[Any, Any]]
) -> tuple[list[bytes], list[bytes], list[bytes], list[int]]:
    ids, keys, values, counts = [], [], [], []
    for entry_id, body in entries:
        stream_id = _as_bytes(entry_id, stream, entry_id, "the ID")
        ids.append(stream_id)
        pairs = _pairs(body, stream, stream_id)
        for key, value in pairs:
            keys.append(_as_bytes(key, stream, stream_id, "a field name"))
            values.append(_as_bytes(value, stream, stream_id, "a field value"))
        counts.append(len(pairs))
    return ids, keys, values, counts


def _pairs(body: Any, stream: str, stream_id: bytes) -> list[tuple[Any, Any]]:
    if isinstance(body, Mapping):
        return list(body.items())
    items = list(body or ())
    if items and all(
        isinstance(item, tuple | list) and len(item) == 2 for item in items
    ):
        return [tuple(item) for item in items]
    if len(items) % 2 == 0 and not any(isinstance(i, tuple | list) for i in items):
        return list(zip(items[0::2], items[1::2], strict=True))
    raise EncodingError(
        "the fields must be a flat [k, v, ...] list, (k, v) pairs or a mapping",
        stream=stream,
        message_id=stream_id.decode("ascii", "replace"),
    )


def _as_bytes(value: Any, stream: str, stream_id: Any, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    message_id = (
        stream_id.decode("ascii", "replace")
        if isinstance(stream_id, bytes)
        else str(stream_id)
    )
    raise EncodingError(
        f"{what} is a {type(value).__name__}; the archive stores bytes or str",
        stream=stream,
        message_id=message_id,
    )


def _binary(items: list[Any]) -> pa.Array:
    array = pa.array(items, pa.binary())
    if isinstance(array, pa.ChunkedArray):  # pyarrow splits at 2 GiB
        raise ArchiveError(
            "a segment's values take more than the 2 GiB one segment can hold; "
            "lower archive.segment_max_size"
        )
    return array


def _fields_array(keys: list[Any], values: list[Any], counts: list[int]) -> pa.Array:
    pairs = pa.StructArray.from_arrays(
        [_binary(keys), _binary(values)],
        fields=list(SCHEMA.field("fields").type.value_type),
    )
    offsets = pa.array(itertools.accumulate(counts, initial=0), pa.int32())
    return pa.ListArray.from_arrays(offsets, pairs, type=SCHEMA.field("fields").type)


def _id_columns(stream: str, ids: list[Any]) -> tuple[pa.Array, pa.Array, pa.Array]:
    try:
        binary = _binary(ids)
    except (TypeError, pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError):
        binary = _binary([_as_bytes(i, stream, i, "the ID") for i in ids])
    try:
        text = binary.view(pa.string())
        parts = pc.split_pattern(text, "-", max_splits=1)
        ms = pc.cast(pc.list_element(parts, 0), pa.uint64())
        seq = pc.cast(pc.list_element(parts, 1), pa.uint64())
    except pa.ArrowException as exc:
        raise EncodingError(
            "an entry ID is not a complete stream ID such as 1700000000000-0",
            stream=stream,
        ) from exc
    if len(ids) > 1:
        _require_increasing(stream, text, ms, seq)
    return text, _signed(ms), _signed(seq)


def _require_increasing(
    stream: str, text: pa.Array, ms: pa.Array, seq: pa.Array
) -> None:
    earlier_ms, later_ms = ms[:-1], ms[1:]
    ascending = pc.or_(
        pc.greater(later_ms, earlier_ms),
        pc.and_(pc.equal(later_ms, earlier_ms), pc.greater(seq[1:], seq[:-1])),
    )
    if not pc.all(ascending).as_py():
        position = pc.index(ascending, False).as_py()
        raise EncodingError(
            f"entries must be in increasing ID order, but {text[position + 1]} "
            f"follows {text[position]}",
            stream=stream,
            message_id=text[position + 1].as_py(),
        )


def _signed(values: pa.Array) -> pa.Array:
    if pc.max(values).as_py() > _INT64_MAX:
        limit = pa.scalar(_INT64_MAX, pa.uint64())
        values = pc.if_else(
            pc.greater(values, limit), pa.scalar(None, pa.uint64()), values
        )
    return pc.cast(values, pa.int64())


FOOTER_TAIL_BYTES = 8
"""A Parquet file ends with the footer's length (4 bytes LE) and ``PAR1``."""


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

"""Turning Redis replies into a segment's Arrow columns, in bulk.

The archiver hands over hundreds of thousands of entries at a time, so the
columns are built from flat Python lists with C-speed conversions instead of
a Python object per row; an input the fast path cannot take (mixed shapes,
``str`` mixed with ``bytes``) falls back to a checked path that names the
offending entry.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from streamweaver.errors import ArchiveError, EncodingError

FIELDS_TYPE = pa.list_(
    pa.struct(
        [
            pa.field("key", pa.binary(), nullable=False),
            pa.field("value", pa.binary(), nullable=False),
        ]
    )
)
"""A message's fields: ordered key/value pairs of bytes, repeats allowed."""

_INT64_MAX = 2**63 - 1
_FALLBACK = (TypeError, pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError)


def to_columns(
    stream: str, entries: Sequence[tuple[Any, Any]]
) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """``id``, ``ms``, ``seq`` and ``fields`` arrays for entries in ID order."""
    try:
        ids, keys, values, counts = _flatten_fast(entries)
        fields = _fields_array(keys, values, counts)
    except _FALLBACK:
        ids, keys, values, counts = _flatten_checked(stream, entries)
        fields = _fields_array(keys, values, counts)
    id_array, ms, seq = _id_columns(stream, ids)
    return id_array, ms, seq, fields


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
        [_binary(keys), _binary(values)], fields=list(FIELDS_TYPE.value_type)
    )
    offsets = pa.array(itertools.accumulate(counts, initial=0), pa.int32())
    return pa.ListArray.from_arrays(offsets, pairs, type=FIELDS_TYPE)


def _id_columns(stream: str, ids: list[Any]) -> tuple[pa.Array, pa.Array, pa.Array]:
    try:
        binary = _binary(ids)
    except _FALLBACK:
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

"""Exporting a range of a stream's archive as JSON Lines or one Parquet file.

A JSON Lines export writes one object per message::

    {"id": "1714564800000-0", "ts": "2024-05-01T12:00:00.000Z",
     "fields": [["order", "42"], ["blob", {"base64": "AAEC"}]]}

Field names and values are strings when they are valid UTF-8 and otherwise
``{"base64": ...}``, so every byte survives; ``fields`` keeps their order and
repeats. A Parquet export has the segments' own schema (docs/archive-format.md).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import IO, Literal

import pyarrow.parquet as pq

from streamweaver.archive import layout
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.reader import read_archive, read_archive_batches
from streamweaver.archive.segment import META_PREFIX, SCHEMA
from streamweaver.storage.base import Store

ExportFormat = Literal["jsonl", "parquet"]
FORMATS: tuple[ExportFormat, ...] = ("jsonl", "parquet")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // (
    timedelta(milliseconds=1)
)


async def export_archive(
    index: SegmentIndex,
    store: Store,
    stream: str,
    out: IO[bytes],
    fmt: ExportFormat,
    start_id: str | None = None,
    end_id: str | None = None,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write the archived messages in ``[start_id, end_id]``; return how many."""
    written = 0
    if fmt == "jsonl":
        async for entries in read_archive(index, store, stream, start_id, end_id):
            out.write("".join(map(jsonl_line, entries)).encode())
            written += len(entries)
            if on_progress is not None:
                on_progress(len(entries))
        return written

    schema = SCHEMA.with_metadata(
        {META_PREFIX + "stream": layout.escape_stream(stream)}
    )
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        async for batch in read_archive_batches(
            index, store, stream, start_id, end_id, batch_size=65_536
        ):
            writer.write_batch(batch.replace_schema_metadata(schema.metadata))
            written += batch.num_rows
            if on_progress is not None:
                on_progress(batch.num_rows)
    return written


async def count_in_range(
    index: SegmentIndex, stream: str, start_id: str | None, end_id: str | None
) -> int:
    """At most how many messages an export of the range writes (whole segments)."""
    return sum(meta.count for meta in await index.segments(stream, start_id, end_id))


def jsonl_line(entry: tuple[str, list[tuple[bytes, bytes]]]) -> str:
    """One message as a JSON Lines record (with its newline)."""
    stream_id, pairs = entry
    record = {
        "id": stream_id,
        "ts": _iso(layout.parse_id(stream_id)[0]),
        "fields": [[_text(key), _text(value)] for key, value in pairs],
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def _text(value: bytes) -> str | dict[str, str]:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode("ascii")}


def _iso(ms: int) -> str | None:
    if ms > _LAST_MS:
        return None
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

"""Segments keep every byte and every field in order, and other readers agree."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from archive.samples import BASE_MS, entries_between
from streamweaver.archive.rebuild import footer_length, meta_from_footer, parse_footer
from streamweaver.archive.segment import (
    SCHEMA,
    SegmentBuilder,
    decode_segment,
    encode_segment,
    iter_entries,
)
from streamweaver.errors import ArchiveError, EncodingError

HUGE = os.urandom(3 * 1024 * 1024) + b"\x00" * (2 * 1024 * 1024)

ENTRIES = [
    (b"1714564800000-0", [b"order", b"42", b"note", "caf\u00e9".encode()]),
    (b"1714564800000-1", []),
    (b"1714564800000-2", [b"", b""]),
    (b"1714564800001-0", [b"\xff\xfe\x00", b"\x80\x81 not utf-8", b"k", b"\x00" * 10]),
    (b"1714564800001-5", [b"dup", b"1", b"other", b"x", b"dup", b"2", b"dup", b"3"]),
    (b"1714564860000-0", [b"huge", HUGE]),
]


def _expected(entries: list) -> list:
    return [
        (stream_id.decode(), list(zip(fields[0::2], fields[1::2], strict=True)))
        for stream_id, fields in entries
    ]


def test_every_byte_and_field_order_survives_a_round_trip() -> None:
    data, _meta = encode_segment("orders", ENTRIES)
    assert list(iter_entries(data)) == _expected(ENTRIES)


def test_flat_lists_pairs_mappings_and_text_ids_encode_the_same() -> None:
    unique = [(i, f) for i, f in ENTRIES if len(set(f[0::2])) == len(f[0::2])]
    flat, _ = encode_segment("s", unique)
    pairs, _ = encode_segment(
        "s", [(i.decode(), list(zip(f[0::2], f[1::2], strict=True))) for i, f in unique]
    )
    mapping, _ = encode_segment(
        "s", [(i, dict(zip(f[0::2], f[1::2], strict=True))) for i, f in unique]
    )
    assert flat == pairs == mapping


def test_text_field_values_are_stored_as_utf8() -> None:
    data, _ = encode_segment("s", [("1-0", [("name", "café"), (b"raw", b"\xff")])])
    assert list(iter_entries(data)) == [
        ("1-0", [(b"name", "café".encode()), (b"raw", b"\xff")])
    ]


def test_the_same_entries_always_encode_to_the_same_bytes() -> None:
    first, meta_a = encode_segment("orders", ENTRIES)
    second, meta_b = encode_segment("orders", ENTRIES)
    assert first == second
    assert meta_a.sha256 == meta_b.sha256


def test_the_meta_describes_the_segment() -> None:
    data, meta = encode_segment("orders:eu", ENTRIES)
    assert meta.stream == "orders:eu"
    assert meta.name == (
        "orders%3Aeu/date=2024-05-01/hour=12/1714564800000-0_1714564860000-0.parquet"
    )
    assert (meta.first_id, meta.last_id) == ("1714564800000-0", "1714564860000-0")
    assert (meta.first_ms, meta.last_ms) == (1714564800000, 1714564860000)
    assert meta.count == len(ENTRIES)
    assert meta.size_bytes == len(data)
    assert len(meta.sha256) == 64


def test_columns_hold_the_id_its_parts_and_its_time() -> None:
    data, _ = encode_segment("orders", ENTRIES)
    table = decode_segment(data)
    assert table.schema.remove_metadata() == SCHEMA
    assert table.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    row = table.slice(4, 1).to_pylist()[0]
    assert row["id"] == "1714564800001-5"
    assert (row["ms"], row["seq"]) == (1714564800001, 5)
    assert int(row["ts"].timestamp() * 1000) == 1714564800001
    assert [f["key"] for f in row["fields"]] == [b"dup", b"other", b"dup", b"dup"]


def test_ids_beyond_int64_keep_their_text_and_leave_the_numbers_null() -> None:
    top = "18446744073709551615-18446744073709551615"
    data, meta = encode_segment("s", [(b"5-0", [b"a", b"b"]), (top, [b"c", b"d"])])
    rows = decode_segment(data).to_pylist()
    assert rows[1]["id"] == top
    assert rows[1]["ms"] is None
    assert rows[1]["ts"] is None
    assert meta.last_ms == 2**64 - 1


def test_the_footer_alone_gives_back_the_meta() -> None:
    data, meta = encode_segment("orders:eu", ENTRIES)
    tail = data[-64 * 1024 :]
    footer = tail[-(footer_length(tail) + 8) :]
    rebuilt = meta_from_footer(parse_footer(footer), meta.name, len(data), 7)
    assert rebuilt.sha256 == ""
    assert rebuilt.created_ms == 7
    assert rebuilt == meta.__class__(**{**_fields(meta), "sha256": "", "created_ms": 7})


def _fields(meta: object) -> dict:
    return {name: getattr(meta, name) for name in meta.__slots__}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([(b"2-0", []), (b"1-0", [])], "increasing ID order"),
        ([(b"1-0", []), (b"1-0", [])], "increasing ID order"),
        ([(b"not-an-id", [])], "stream ID"),
        ([(b"5", [])], "stream ID"),
        ([(b"1-0", [b"k", 5])], "int"),
        ([(b"1-0", [b"odd"])], "flat"),
    ],
)
def test_bad_entries_are_refused_with_a_reason(entries: list, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        encode_segment("s", entries)


def test_a_segment_needs_an_entry() -> None:
    with pytest.raises(ArchiveError, match="at least one"):
        encode_segment("s", [])


def test_a_flipped_byte_in_the_data_is_detected_when_decoding() -> None:
    entries = [(f"{n}-0".encode(), [b"v", os.urandom(64)]) for n in range(1, 2000)]
    data, _ = encode_segment("s", entries)
    damaged = bytearray(data)
    damaged[len(data) // 3] ^= 0xFF
    with pytest.raises(ArchiveError, match="cannot be decoded"):
        list(iter_entries(bytes(damaged)))


def test_duckdb_reads_the_segments_with_hive_partitions(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    written = {}
    for stream, start_ms in (("orders:eu", BASE_MS), ("Orders", BASE_MS + 3_600_000)):
        entries = [
            (
                f"{start_ms + n}-{n % 3}".encode(),
                [b"n", str(n).encode(), b"bin", bytes([n % 256]) * 3],
            )
            for n in range(500)
        ]
        data, meta = encode_segment(stream, entries)
        path = root / meta.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written[stream] = entries
    written_huge, meta_huge = encode_segment("orders:eu", ENTRIES[-1:])
    (root / meta_huge.name).parent.mkdir(parents=True, exist_ok=True)
    (root / meta_huge.name).write_bytes(written_huge)

    con = duckdb.connect()
    everything = con.execute(
        f"select count(*), count(distinct date), min(hour), max(hour) from "
        f"read_parquet('{root}/**/*.parquet', hive_partitioning=true)"
    ).fetchall()[0]
    assert everything == (1001, 1, 12, 13)

    rows = con.execute(
        f"""select id, ms, seq, epoch_ms(ts), fields, hour
        from read_parquet('{root}/orders%3Aeu/**/*.parquet', hive_partitioning=true)
        order by ms, seq"""
    ).fetchall()
    expected = written["orders:eu"]
    assert len(rows) == len(expected) + 1
    for row, (stream_id, fields) in zip(rows, expected, strict=False):
        ms, seq = map(int, stream_id.decode().split("-"))
        assert row[:4] == (stream_id.decode(), ms, seq, ms)
        assert [(f["key"], f["value"]) for f in row[4]] == list(
            zip(fields[0::2], fields[1::2], strict=True)
        )
        assert row[5] == 12
    assert rows[-1][4][0]["value"] == HUGE

    kv = con.execute(
        f"select key::varchar, value::varchar from parquet_kv_metadata("
        f"'{root}/Orders~1/**/*.parquet') where key::varchar like 'streamweaver.%'"
    ).fetchall()
    assert dict(kv)["streamweaver.stream"] == "Orders~1"
    assert dict(kv)["streamweaver.count"] == "500"


def test_a_truncated_object_has_no_footer() -> None:
    data, _ = encode_segment("s", ENTRIES[:2])
    with pytest.raises(ArchiveError):
        footer_length(data[:-3])
    assert struct.unpack("<I", data[-8:-4])[0] == footer_length(data)


def test_the_documented_duckdb_query_recovers_hostile_stream_names(
    tmp_path: Path,
) -> None:
    streams = ["orders:eu", "Orders", "café/x", "../up", "a b%c=d"]
    for stream in streams:
        data, meta = encode_segment(stream, [(b"1714564800000-0", [b"k", b"v"])])
        path = tmp_path / meta.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    query = f"""
        SELECT url_decode(regexp_replace(
                   regexp_extract(filename, '([^/]+)/date=', 1), '~[0-9a-f]+$', ''))
        FROM read_parquet('{tmp_path}/**/*.parquet', hive_partitioning = true,
                          filename = true)"""
    found = duckdb.connect().execute(query).fetchall()
    assert sorted(row[0] for row in found) == sorted(streams)


def test_a_segment_built_chunk_by_chunk_is_the_one_encoded_at_once():
    entries = entries_between(0, 70_000)  # more than one row group
    builder = SegmentBuilder("orders")
    for start in range(0, len(entries), 1000):
        builder.add(entries[start : start + 1000])

    assert builder.count == len(entries)
    assert builder.oldest_ms == BASE_MS
    data, meta = builder.encode()
    assert (data, meta.name) == tuple(
        x if i == 0 else x.name for i, x in enumerate(encode_segment("orders", entries))
    )
    assert builder.count == len(entries)  # what was encoded; the builder is spent
    with pytest.raises(ArchiveError, match="at least one entry"):
        builder.encode()


def test_a_chunk_that_does_not_follow_the_last_one_is_refused():
    builder = SegmentBuilder("orders")
    builder.add(entries_between(10, 20))

    with pytest.raises(ArchiveError, match="increasing ID order"):
        builder.add(entries_between(15, 30))

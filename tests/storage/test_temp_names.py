"""A killed writer's temp file is never read as a segment by a query engine."""

import duckdb

from streamweaver.archive.segment import encode_segment
from streamweaver.storage._fsio import temp_path, write_durably


def test_duckdb_over_the_archive_skips_a_temp_file_left_by_a_killed_writer(tmp_path):
    data, meta = encode_segment("orders", [(b"1-0", [b"k", b"v"])])
    final = tmp_path / "orders" / "date=1970-01-01" / "hour=00" / "1-0_1-0.parquet"
    final.parent.mkdir(parents=True)
    write_durably(final, data)
    temp_path(final).write_bytes(data)  # complete, but never renamed: a crash

    rows = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{tmp_path}/**/*.parquet')"
    ).fetchall()

    assert rows == [(1,)]
    assert meta.count == 1

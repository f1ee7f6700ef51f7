"""A broker killed at each step of archiving and trimming loses and repeats nothing.

The broker runs as a real process with a fault point armed
(:mod:`streamweaver.archive.faults`): it SIGKILLs itself there. Restarted
without the fault, it must bring the archive to every produced message exactly
once, as DuckDB reads the files, with a clean index and no stray files.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio

from broker.harness import (
    BrokerProcess,
    archived_by_duckdb,
    archived_until,
    fast_config,
    id_key,
    produce,
    wait_until,
)
from streamweaver import keys
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.verify import verify_archive
from streamweaver.config.model import LocalStorageConfig
from streamweaver.storage.local import LocalStore

pytestmark = pytest.mark.slow

HOUR_AGO_MS = int(time.time() * 1000) - 3_600_000


async def verify(port: int, archive_dir, stream: str):
    client = redis.asyncio.Redis(host="127.0.0.1", port=port)
    try:
        store = LocalStore(LocalStorageConfig(path=archive_dir))
        return await verify_archive(SegmentIndex(client, store), store, stream)
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "fault",
    ["before_put:2", "mid_put:2", "after_put:2", "after_record:2", "after_trim:1"],
)
def test_a_crash_at_each_step_loses_and_duplicates_nothing(
    fault, r, redis_server, tmp_path
):
    archive_dir = tmp_path / "archive"
    config = fast_config(
        redis_server.port,
        archive_dir,
        archive={"segment_max_messages": 300, "segment_max_age": "1s"},
        retention={"policy": "time", "max_age": "1ms"},
    )
    broker = BrokerProcess(config, tmp_path / "broker")
    produced = produce(r, "orders", 1000, id_ms=HOUR_AGO_MS)

    broker.start(env={"STREAMWEAVER_FAULT": fault})
    assert broker.wait_exit(30) == -9, broker.log()
    assert f"killing the process at {fault.split(':')[0]}" in broker.log()
    files = [p for p in archive_dir.rglob("*") if p.is_file()]
    if fault.startswith("mid_put"):
        assert any(p.name.startswith(".") for p in files)  # a cut temp file
    if fault.startswith("after_put"):
        recorded = r.zcard(keys.segment_index("orders"))
        assert len(files) == recorded + 1  # an object the index never heard of

    produced |= produce(r, "orders", 500, start=1000, id_ms=HOUR_AGO_MS)
    broker.start()
    try:
        last = max(produced, key=id_key)
        wait_until(lambda: archived_until(r, "orders") == last, 30, what="archived")
        wait_until(lambda: r.xlen("orders") < 100, 20, what="trimmed")
        report = asyncio.run(verify(redis_server.port, archive_dir, "orders"))
    finally:
        broker.stop()

    rows = archived_by_duckdb(archive_dir, "orders")
    assert len(rows) == len(set(rows)) == len(produced)
    assert dict(rows) == produced
    assert report.ok, report.problems
    assert not report.warnings, report.warnings
    assert all(p.suffix == ".parquet" for p in archive_dir.rglob("*") if p.is_file())

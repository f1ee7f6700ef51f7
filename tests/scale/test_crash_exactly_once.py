"""Brokers killed mid-archival while producers keep writing lose and repeat nothing.

Three broker processes share six streams under continuous production and a
retention policy that trims everything archived. One broker kills itself
right after storing a segment it never records (an orphan), another is killed
with SIGKILL at an arbitrary moment; the third takes both shares over. Then
the archive (as DuckDB reads the files) plus Redis must hold every produced
message exactly once, and ``streamweaver archive verify`` must find nothing
wrong.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio

from broker.harness import archived_until, fast_config, id_key, wait_until
from scale.support import (
    Producer,
    assert_exactly_once,
    broker_group,
    lease_owners,
    running,
)
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.verify import verify_archive
from streamweaver.config.model import LocalStorageConfig
from streamweaver.storage.local import LocalStore

pytestmark = pytest.mark.slow

STREAMS = [f"events-{n}" for n in range(6)]
CLI = Path(sys.executable).with_name("streamweaver")
REBUILT = "no checksum in the index (rebuilt from footers)"


def test_killing_two_of_three_brokers_mid_archival_loses_and_repeats_nothing(
    r, redis_server, tmp_path
):
    archive_dir = tmp_path / "archive"
    config = fast_config(
        redis_server.port,
        archive_dir,
        archive={"segment_max_messages": 400, "segment_max_age": "300ms"},
        retention={"policy": "time", "max_age": "1ms"},
        broker={"lease_ttl": "2s", "rebalance_interval": "500ms"},
    )
    b0, b1, b2 = broker_group(config, tmp_path / "brokers", 3)
    b2.env = {"STREAMWEAVER_FAULT": "after_put:4"}
    producer = Producer(r, STREAMS).start()

    with running([b0, b1, b2]):
        wait_until(lambda: not b2.running, 30, what="b2 crashed at its fault point")
        assert "killing the process at after_put" in b2.log()
        archived = _archived_count(r)
        wait_until(lambda: _archived_count(r) > archived + 2000, 30, what="progress")
        b0.kill()
        produced_at_kill = producer.total
        wait_until(lambda: producer.total > produced_at_kill + 3000, 30)
        producer.stop()

        wait_until(
            lambda: set(lease_owners(r, STREAMS).values()) == {"b1"},
            15,
            what="b1 owns every stream",
        )
        for stream in STREAMS:
            last = max(producer.acked[stream], key=id_key)
            wait_until(
                lambda s=stream, x=last: archived_until(r, s) == x,
                30,
                what=f"{stream} archived up to {last}",
            )
        wait_until(lambda: all(r.xlen(s) < 600 for s in STREAMS), 20, what="trim")
        first = asyncio.run(_verify_all(redis_server.port, archive_dir))
        again = asyncio.run(_verify_all(redis_server.port, archive_dir))
        cli = subprocess.run(
            [
                str(CLI),
                "archive",
                "verify",
                "--config",
                str(b1.config_path),
                "events-0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    print(f"produced {producer.total}, killed b0 at {produced_at_kill}")
    assert not producer.errors
    for stream in STREAMS:
        survived = assert_exactly_once(r, archive_dir, stream, producer.acked[stream])
        assert len(survived) == len(producer.acked[stream])
    for report in first:
        # If b2 crashed before recording a stream's first segment, its successor
        # found no index but an object, and rebuilt the index from the footer;
        # the first verification computes the checksum and records it.
        assert report.ok, report.problems
        assert all(REBUILT in w for w in report.warnings), report.warnings
    for report in again:
        assert report.ok, report.problems
        assert not report.warnings, report.warnings
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "is consistent" in cli.stdout


def _archived_count(client) -> int:
    from streamweaver import keys

    pipe = client.pipeline(transaction=False)
    for stream in STREAMS:
        pipe.hget(keys.archive_state(stream), "archived_messages")
    return sum(int(v or 0) for v in pipe.execute())


async def _verify_all(port: int, archive_dir: Path):
    client = redis.asyncio.Redis(host="127.0.0.1", port=port)
    store = LocalStore(LocalStorageConfig(path=archive_dir))
    try:
        index = SegmentIndex(client, store)
        return [await verify_archive(index, store, s) for s in STREAMS]
    finally:
        await client.aclose()

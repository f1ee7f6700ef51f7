"""A collection cycle and a scrape stay cheap with 1,000 streams.

A scalability check, not a micro-benchmark: the bounds have wide headroom
(docs/metrics.md, "Cost"); the measured figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import redis.asyncio
from prometheus_client import CollectorRegistry, generate_latest

from streamweaver.embedded import EmbeddedServer
from streamweaver.monitoring.archive_stats import IndexArchiveSource
from streamweaver.monitoring.collector import Collector
from streamweaver.monitoring.exporter import SnapshotExporter
from streamweaver.storage import open_store

STREAMS = 1000
COLLECT_BOUND_S = 5.0
SCRAPE_BOUND_S = 2.0
CALLS_PER_STREAM_BOUND = 8 + 3 * 1
"""8 per stream, 3 per group that has unread and pending entries (docs/metrics.md)."""


async def make_streams(ar, count: int) -> list[str]:
    names = [f"tenant-{i // 100}/events:{i}" for i in range(count)]
    pipe = ar.pipeline(transaction=False)
    for name in names:
        for n in range(5):
            pipe.xadd(name, {"n": str(n)})
        pipe.xgroup_create(name, "workers", id="0")
        pipe.xreadgroup("workers", "w1", {name: ">"}, count=2)
    await pipe.execute()
    return names


async def command_calls(ar) -> int:
    stats = await ar.info("commandstats")
    return sum(entry["calls"] for entry in stats.values())


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[redis.asyncio.Redis]:
    """A server of its own, so no other client's commands are counted."""
    with EmbeddedServer(tmp_path / "valkey", appendonly=False) as server:
        client = redis.asyncio.Redis(host=server.host, port=server.port)
        yield client
        await client.aclose()


async def test_a_cycle_and_a_scrape_over_1000_streams_stay_within_bounds(
    own_redis: redis.asyncio.Redis, make_config
) -> None:
    ar = own_redis
    names = await make_streams(ar, STREAMS)
    config = make_config()
    store = open_store(config.storage)

    async def streams() -> Sequence[str]:
        return names

    collector = Collector(
        ar, config, streams, store=store, archive=IndexArchiveSource(ar, store)
    )
    registry = CollectorRegistry()
    registry.register(SnapshotExporter(lambda: collector.latest, "local"))
    await collector.collect()  # warm up: scripts, connections

    await ar.config_resetstat()
    started = time.perf_counter()
    snapshot = await collector.collect()
    collect_s = time.perf_counter() - started
    calls = await command_calls(ar)

    started = time.perf_counter()
    body = generate_latest(registry)
    scrape_s = time.perf_counter() - started

    print(
        f"\n1000 streams: collect {collect_s * 1000:.0f} ms, scrape "
        f"{scrape_s * 1000:.0f} ms ({len(body) / 1e6:.1f} MB), "
        f"{calls / STREAMS:.1f} Redis calls per stream"
    )
    assert len(snapshot.streams) == STREAMS
    assert all(s.groups[0].lag == 3 for s in snapshot.streams.values())
    assert body.count(b"streamweaver_group_lag_messages{") == STREAMS
    assert calls <= STREAMS * CALLS_PER_STREAM_BOUND + 5  # + TIME, INFO per cycle
    assert collect_s < COLLECT_BOUND_S
    assert scrape_s < SCRAPE_BOUND_S

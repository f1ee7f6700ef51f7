"""Each retention policy, with the broker as a real process.

Every test ends the same way: Redis is trimmed as configured, and DuckDB,
reading the Parquet files straight from the archive directory, finds every
produced message exactly once.
"""

from __future__ import annotations

import time

import pytest

from broker.harness import (
    BrokerProcess,
    archived_by_duckdb,
    archived_until,
    fast_config,
    id_key,
    in_redis,
    produce,
    wait_until,
)

NODE_ENTRIES = 100
"""Valkey's stream-node-max-entries: XTRIM ~ may leave up to one node more."""

HOUR_AGO_MS = int(time.time() * 1000) - 3_600_000


@pytest.fixture
def archive_dir(tmp_path):
    return tmp_path / "archive"


@pytest.fixture
def start_broker(redis_server, archive_dir, tmp_path):
    brokers = []

    def start(**sections) -> BrokerProcess:
        config = fast_config(redis_server.port, archive_dir, **sections)
        broker = BrokerProcess(config, tmp_path / "broker", name=f"b{len(brokers)}")
        brokers.append(broker.start())
        return broker

    yield start
    for broker in brokers:
        broker.stop()


def assert_archived_exactly_once(archive_dir, stream, produced: dict[str, int]):
    rows = archived_by_duckdb(archive_dir, stream)
    assert len(rows) == len(set(rows)), "a message is archived twice"
    assert dict(rows) == produced


def wait_archived(r, stream, produced, timeout_s=30):
    last = max(produced, key=id_key)
    wait_until(
        lambda: archived_until(r, stream) == last, timeout_s, what=f"{stream} archived"
    )


def test_time_policy_trims_entries_older_than_max_age(r, start_broker, archive_dir):
    produced = produce(r, "events", 1500, id_ms=HOUR_AGO_MS)
    produced |= produce(r, "events", 300, start=1500)
    start_broker(retention={"policy": "time", "max_age": "10m"})

    wait_archived(r, "events", produced)
    wait_until(lambda: len(in_redis(r, "events")) < 300 + NODE_ENTRIES, 20)

    kept = in_redis(r, "events")
    assert all(n in kept.values() for n in range(1500, 1800))
    assert_archived_exactly_once(archive_dir, "events", produced)


def test_size_policy_trims_the_oldest_entries_down_to_about_max_size(
    r, start_broker, archive_dir
):
    produced = produce(r, "events", 3000)
    full_bytes = r.memory_usage("events", samples=0)
    start_broker(retention={"policy": "size", "max_size": full_bytes // 4})

    wait_archived(r, "events", produced)
    wait_until(lambda: r.memory_usage("events", samples=0) < full_bytes // 3, 20)

    kept = in_redis(r, "events")
    # An estimate from average entry size, trimmed a node at a time: about a
    # quarter of the entries remain, and always the newest ones.
    assert 600 <= len(kept) <= 900
    assert sorted(kept.values()) == list(range(3000 - len(kept), 3000))
    assert_archived_exactly_once(archive_dir, "events", produced)


def test_count_policy_and_stream_max_length_cap_the_entry_count(
    r, start_broker, archive_dir
):
    counted = produce(r, "counted", 2000)
    capped = produce(r, "capped", 2000)
    start_broker(
        redis={"stream_max_length": 700},
        retention={"policy": "time", "max_age": "7d"},
        streams={"overrides": {"count*": {"policy": "count", "max_length": 300}}},
    )

    wait_archived(r, "counted", counted)
    wait_archived(r, "capped", capped)
    wait_until(lambda: r.xlen("counted") < 300 + NODE_ENTRIES, 20)
    wait_until(lambda: r.xlen("capped") < 700 + NODE_ENTRIES, 20)

    assert r.xlen("counted") >= 300
    assert r.xlen("capped") >= 700
    assert_archived_exactly_once(archive_dir, "counted", counted)
    assert_archived_exactly_once(archive_dir, "capped", capped)


def test_protect_unacked_holds_trimming_for_active_groups_only(
    r, start_broker, archive_dir
):
    produced = produce(r, "jobs", 2000, id_ms=HOUR_AGO_MS)
    ids = sorted(produced, key=id_key)
    r.xgroup_create("jobs", "active", id="0")
    r.xgroup_create("jobs", "gone", id="0")
    r.xreadgroup("gone", "old-worker", {"jobs": ">"}, count=10)
    delivered = r.xreadgroup("active", "worker", {"jobs": ">"}, count=1200)
    r.xack("jobs", "active", *[i for i, _ in delivered[0][1][:900]])
    start_broker(
        retention={
            "policy": "time",
            "max_age": "1m",
            "protect_unacked": True,
            "group_idle_timeout": "2s",
        }
    )

    def keep_worker_alive():
        # Reading its own pending entries is an attempted read: it stays seen.
        r.xreadgroup("active", "worker", {"jobs": "0"}, count=1)
        return ids[0] not in in_redis(r, "jobs")

    wait_archived(r, "jobs", produced)
    wait_until(keep_worker_alive, 20, interval_s=0.2)
    # A negative check needs a window: over several trim checks (every
    # 200ms), nothing the active group still needs may go.
    time.sleep(1.0)
    keep_worker_alive()

    kept = in_redis(r, "jobs")
    assert ids[900] in kept  # the active group's oldest pending entry
    assert 1100 <= len(kept) < 1100 + NODE_ENTRIES  # the idle group held nothing
    assert_archived_exactly_once(archive_dir, "jobs", produced)

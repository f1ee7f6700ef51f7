"""Outages of the object store and of Redis, with the broker as a real process.

Nothing is lost, nothing that is not archived leaves Redis, the broker logs
the outage once when it starts and once when it ends, and resumes by itself.
"""

from __future__ import annotations

import time

import pytest
import redis

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
from streamweaver.embedded import EmbeddedServer

pytestmark = pytest.mark.slow

HOUR_AGO_MS = int(time.time() * 1000) - 3_600_000
TRIM_ALL_ARCHIVED = {"policy": "time", "max_age": "1ms"}


def last_id(produced: dict[str, int]) -> str:
    return max(produced, key=id_key)


def snapshot_bucket(server, bucket: str) -> dict[str, bytes]:
    client = server.client()
    objects = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"]
            objects[item["Key"]] = body.read()
    return objects


def test_a_store_outage_holds_trimming_and_archival_resumes(
    r, redis_server, moto_s3_server, tmp_path
):
    bucket = moto_s3_server.create_bucket()
    config = fast_config(
        redis_server.port, tmp_path / "unused", retention=TRIM_ALL_ARCHIVED
    )
    config["storage"] = {
        "type": "s3",
        "s3": moto_s3_server.section(bucket, prefix="archive"),
    }
    broker = BrokerProcess(config, tmp_path / "broker").start()
    try:
        first = produce(r, "orders", 800, id_ms=HOUR_AGO_MS)
        wait_until(lambda: archived_until(r, "orders") == last_id(first), 30)
        saved = snapshot_bucket(moto_s3_server, bucket)
        moto_s3_server.stop()

        second = produce(r, "orders", 700, start=800, id_ms=HOUR_AGO_MS)
        wait_until(lambda: "the archive store is unavailable" in broker.log(), 30)
        assert archived_until(r, "orders") == last_id(first)
        assert set(second) <= set(in_redis(r, "orders"))

        # Moto forgets everything when it stops; a real store would not.
        moto_s3_server.start()
        for key, data in saved.items():
            moto_s3_server.client().put_object(Bucket=bucket, Key=key, Body=data)
        wait_until(lambda: archived_until(r, "orders") == last_id(second), 30)
        wait_until(lambda: r.xlen("orders") < 100, 20)
        wait_until(lambda: "the archive store is available again" in broker.log(), 20)
        final = snapshot_bucket(moto_s3_server, bucket)
    finally:
        broker.stop()

    for key, data in final.items():
        path = tmp_path / "downloaded" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    rows = archived_by_duckdb(tmp_path / "downloaded" / "archive", "orders")
    assert len(rows) == len(set(rows))
    assert dict(rows) == first | second
    log = broker.log()
    assert log.count("the archive store is unavailable") == 1
    assert log.count("the archive store is available again") == 1
    assert log.count("not archived yet; Redis keeps them") <= 1


@pytest.fixture
def own_valkey(tmp_path):
    server = EmbeddedServer(tmp_path / "valkey", appendonly=True).start()
    yield server
    server.kill()  # its data is not needed after the test


def test_a_redis_crash_is_logged_once_and_archival_resumes(own_valkey, tmp_path):
    client = redis.Redis(host=own_valkey.host, port=own_valkey.port)
    archive_dir = tmp_path / "archive"
    config = fast_config(own_valkey.port, archive_dir, retention=TRIM_ALL_ARCHIVED)
    broker = BrokerProcess(config, tmp_path / "broker").start()
    try:
        first = produce(client, "orders", 800, id_ms=HOUR_AGO_MS)
        wait_until(lambda: archived_until(client, "orders") == last_id(first), 30)
        own_valkey.kill()
        wait_until(lambda: "Redis is unavailable" in broker.log(), 30)
        own_valkey.start()

        second = produce(client, "orders", 700, start=800, id_ms=HOUR_AGO_MS)
        wait_until(lambda: archived_until(client, "orders") == last_id(second), 30)
        wait_until(lambda: client.xlen("orders") < 100, 20)
        wait_until(lambda: "Redis is available again" in broker.log(), 20)
    finally:
        broker.stop()
        client.close()

    rows = archived_by_duckdb(archive_dir, "orders")
    assert len(rows) == len(set(rows))
    assert dict(rows) == first | second
    log = broker.log()
    assert log.count("Redis is unavailable") == 1
    assert log.count("Redis is available again") == 1

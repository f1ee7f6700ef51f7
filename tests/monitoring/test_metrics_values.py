"""The values /metrics reports match what the test did to the streams."""

from __future__ import annotations

import uuid

from prometheus_client.parser import text_string_to_metric_families

import streamweaver
from monitoring.support import Running, eventually
from streamweaver.archive import layout
from streamweaver.storage import open_store

STREAM = f"orders/eu:{uuid.uuid4().hex[:8]}"
GROUP = "billing"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


async def produce(ar, stream: str, count: int, size: int = 40) -> list[bytes]:
    pipe = ar.pipeline(transaction=False)
    for i in range(count):
        pipe.xadd(stream, {"n": str(i), "body": "x" * size})
    return await pipe.execute()


async def test_metrics_report_what_was_produced_consumed_and_archived(
    monitored: Running, ar
) -> None:
    ids = await produce(ar, STREAM, 120)
    await ar.xgroup_create(STREAM, GROUP, id="0")
    read = await ar.xreadgroup(GROUP, "worker-1", {STREAM: ">"}, count=70)
    delivered = [entry_id for entry_id, _ in read[0][1]]
    await ar.xack(STREAM, GROUP, *delivered[:50])
    await produce(ar, f"{STREAM}:dlq", 3)

    async def archived_and_collected() -> str | None:
        text = await monitored.metrics()
        segments = value(text, "streamweaver_archive_segments", stream=STREAM)
        unarchived = value(
            text, "streamweaver_archive_unarchived_age_seconds", stream=STREAM
        )
        lag = value(text, "streamweaver_group_lag_messages", stream=STREAM, group=GROUP)
        return text if segments and unarchived == 0 and lag == 50 else None

    text = await eventually(archived_and_collected, timeout_s=30)

    assert value(text, "streamweaver_stream_messages_added_total", stream=STREAM) == 120
    assert value(text, "streamweaver_stream_length", stream=STREAM) == 120
    assert value(text, "streamweaver_dead_letter_messages", stream=STREAM) == 3
    assert value(text, "streamweaver_stream_memory_bytes", stream=STREAM) > 120 * 40
    labels = {"stream": STREAM, "group": GROUP}
    assert value(text, "streamweaver_group_lag_messages", **labels) == 50
    assert value(text, "streamweaver_group_pending_messages", **labels) == 20
    assert value(text, "streamweaver_group_consumers", **labels) == 1
    assert (
        value(
            text,
            "streamweaver_consumer_pending_messages",
            consumer="worker-1",
            **labels,
        )
        == 20
    )
    oldest_unread_ms = int(ids[70].decode().split("-")[0])
    newest_ms = int(ids[-1].decode().split("-")[0])
    lag_s = value(text, "streamweaver_group_lag_seconds", **labels)
    collected_s = value(text, "streamweaver_collect_timestamp_seconds")
    assert abs(lag_s - (collected_s - oldest_unread_ms / 1000)) < 0.01
    newest_age_s = value(
        text, "streamweaver_stream_newest_entry_age_seconds", stream=STREAM
    )
    assert abs(newest_age_s - (collected_s - newest_ms / 1000)) < 0.01

    store = open_store(monitored.config.storage)
    objects = [info async for info in store.list(layout.stream_prefix(STREAM))]
    assert value(text, "streamweaver_archive_segments", stream=STREAM) == len(objects)
    assert value(text, "streamweaver_archive_bytes", stream=STREAM) == sum(
        info.size_bytes for info in objects
    )
    assert value(text, "streamweaver_archived_messages_total", stream=STREAM) == 120


async def test_metrics_report_the_broker_and_its_dependencies_up(
    monitored: Running,
) -> None:
    text = await monitored.metrics()

    assert value(text, "streamweaver_up") == 1
    assert value(text, "streamweaver_redis_up") == 1
    assert value(text, "streamweaver_store_up") == 1
    assert value(text, "streamweaver_build_info", version=streamweaver.__version__) == 1
    tasks = monitored.broker.context.supervisor.stats
    assert {"metrics-collector", "http-api", "discovery"} <= set(tasks)
    for task in tasks:  # a process-wide counter: earlier tests may have counted
        assert value(text, "streamweaver_task_restarts_total", task=task) is not None

"""Metrics of a partitioned stream, summed over its partitions."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamweaver.monitoring.collector import Collector
from streamweaver.monitoring.exporter import SnapshotExporter
from streamweaver.partitioning import declare


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_a_partitioned_stream_reports_totals_over_its_partitions(ar, make_config):
    partitioning = await declare(ar, "orders", 3)
    for n in range(7):  # partitions 0 and 1 get messages, partition 2 none
        await ar.xadd(partitioning.names[n % 2], {"n": str(n)})

    async def streams() -> Sequence[str]:
        return [name for name in partitioning.names if await ar.exists(name)]

    collector = Collector(ar, make_config(), streams)
    registry = CollectorRegistry()
    registry.register(SnapshotExporter(lambda: collector.latest, "local"))
    await collector.collect()

    samples = scrape(registry)
    logical = (("logical_stream", "orders"),)
    assert samples[("streamweaver_logical_stream_length", logical)] == 7
    assert samples[("streamweaver_logical_stream_messages_added_total", logical)] == 7
    found = (("found", "true"), ("logical_stream", "orders"))
    missing = (("found", "false"), ("logical_stream", "orders"))
    assert samples[("streamweaver_logical_stream_partitions", found)] == 2
    assert samples[("streamweaver_logical_stream_partitions", missing)] == 1

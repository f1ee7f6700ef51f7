"""``streamweaver status``: every stream's tiers, throughput, lag and forecasts.

Computed straight from Redis, the segment index and the store, so it works
whether or not a broker (and its HTTP server) runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from streamweaver.broker.discovery import is_managed, scan_streams
from streamweaver.cli.common import config_options
from streamweaver.config import Config
from streamweaver.connection import address_of, connect_async, translated
from streamweaver.coordination.report import OwnershipReport, read_ownership
from streamweaver.monitoring.archive_stats import IndexArchiveSource
from streamweaver.monitoring.collector import Collector
from streamweaver.monitoring.replays import ReplayJobs
from streamweaver.monitoring.snapshot import Snapshot, printable
from streamweaver.monitoring.views import stream_summary
from streamweaver.replay.jobs import JobStore
from streamweaver.storage import open_store
from streamweaver.units import format_bytes, format_duration


@click.command()
@config_options
@click.option(
    "--rate-window",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between two readings, for messages per second (0: no rates).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(config: Config, rate_window: float, as_json: bool) -> None:
    """Show every stream: Redis and archive size, throughput, lag, trim forecast."""
    with translated(address_of(config.redis)):
        snapshot, owners = asyncio.run(_collect(config, rate_window))
    if as_json:
        click.echo(json.dumps(_as_json(snapshot) | _owners_json(owners), indent=2))
        return
    console = Console()
    console.print(_header(config, snapshot))
    console.print(_instances_line(owners))
    console.print(_streams_table(snapshot, _owner_of(owners)))


async def _collect(
    config: Config, rate_window_s: float
) -> tuple[Snapshot, OwnershipReport]:
    client = connect_async(config.redis)
    store = open_store(config.storage)
    try:

        async def managed() -> Sequence[str]:
            found = await scan_streams(client)
            return [s for s in found if is_managed(s, config.streams)]

        collector = Collector(
            client,
            config,
            managed,
            store=store,
            archive=IndexArchiveSource(client, store),
            replays=ReplayJobs(JobStore(client)),
        )
        snapshot = await collector.collect()
        if rate_window_s > 0:
            await asyncio.sleep(rate_window_s)
            snapshot = await collector.collect()
        owners = await read_ownership(client, list(snapshot.streams))
        return snapshot, owners
    finally:
        await client.aclose()


def _as_json(snapshot: Snapshot) -> dict:
    return {
        "collected_at_s": snapshot.collected_at_s,
        "replay_jobs": snapshot.replay_jobs,
        "volume": None
        if snapshot.volume is None
        else {
            "total_bytes": snapshot.volume.total_bytes,
            "free_bytes": snapshot.volume.free_bytes,
        },
        "streams": [stream_summary(s).model_dump() for s in snapshot.streams.values()],
    }


def _owners_json(report: OwnershipReport) -> dict:
    return {
        "instances": [
            {
                "instance_id": i.instance_id,
                "live": i.live,
                "owned_streams": len(i.streams),
                "streams": [printable(s) for s in i.streams],
            }
            for i in report.instances
        ],
        "unowned_streams": [printable(s) for s in report.unowned],
    }


def _owner_of(report: OwnershipReport) -> dict[str, str]:
    return {s: i.instance_id for i in report.instances for s in i.streams}


def _instances_line(report: OwnershipReport) -> Text:
    shares = ", ".join(
        f"{i.instance_id} ({len(i.streams)}{'' if i.live else ', heartbeat lost'})"
        for i in report.instances
    )
    line = f"Broker instances: {shares or 'none'}"
    if report.unowned:
        line += f"; {len(report.unowned)} stream(s) without an owner"
    return Text(line)


def _header(config: Config, snapshot: Snapshot) -> Text:
    streams = snapshot.streams.values()
    redis_bytes = sum(s.memory_bytes or 0 for s in streams)
    archive_bytes = sum(s.archive.bytes for s in streams)
    lines = [
        f"Redis {address_of(config.redis)}: {len(snapshot.streams)} stream(s), "
        f"{sum(s.length for s in streams):,} entries, {format_bytes(redis_bytes)}",
        f"Archive ({config.storage.type}): {format_bytes(archive_bytes)} in "
        f"{sum(s.archive.segments for s in streams):,} segment(s)"
        + (
            f", {format_bytes(snapshot.volume.free_bytes)} free of "
            f"{format_bytes(snapshot.volume.total_bytes)}"
            if snapshot.volume
            else ""
        ),
    ]
    if snapshot.replay_jobs:
        jobs = ", ".join(f"{n} {s}" for s, n in sorted(snapshot.replay_jobs.items()))
        lines.append(f"Replay jobs: {jobs}")
    return Text("\n".join(lines))


def _streams_table(snapshot: Snapshot, owners: dict[str, str]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("stream")
    table.add_column("owner")
    for column in (
        "msgs/s",
        "in Redis",
        "memory",
        "archived",
        "archive lag",
        "groups",
        "max lag",
        "trim of unread",
        "dead letters",
    ):
        table.add_column(column, justify="right")
    for stats in snapshot.streams.values():
        s = stream_summary(stats)
        table.add_row(
            s.name,
            owners.get(stats.name, "-"),
            "-" if s.rate_per_s is None else f"{s.rate_per_s:,.1f}",
            f"{s.length:,}",
            "-" if s.memory_bytes is None else format_bytes(s.memory_bytes),
            f"{format_bytes(s.archive.bytes)} / {s.archive.segments:,} seg",
            _duration(s.archive.lag_s),
            str(s.groups),
            "-" if s.max_lag is None else f"{s.max_lag:,} ({_duration(s.max_lag_s)})",
            _eta(s.trim_eta_s),
            f"{s.dead_letters:,}",
        )
    return table


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def _eta(seconds: float | None) -> Text:
    if seconds is None:
        return Text("never")
    style = "bold red" if seconds < 3600 else "yellow" if seconds < 86400 else ""
    return Text(f"in {format_duration(seconds)}", style=style)

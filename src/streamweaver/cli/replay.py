"""``streamweaver replay`` and ``streamweaver replays``: start, follow, list, cancel.

``replay`` sends the request through the control stream like every client,
so a broker must be running; with ``--wait`` it shows a progress bar and a
summary. ``replays`` lists jobs, shows one, or cancels one.
"""

from __future__ import annotations

import json
import time

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from streamweaver import keys
from streamweaver.cli.common import config_options
from streamweaver.client.replay import ReplayJob, request_fields, submit
from streamweaver.config import Config
from streamweaver.connection import address_of, connect, translated
from streamweaver.errors import ReplayError
from streamweaver.replay.jobs import DONE, Job
from streamweaver.units import format_duration

_FROM_HELP = (
    "Start: a stream ID, epoch milliseconds, an ISO 8601 time, 'now', a time "
    "before now such as -2h, or '-' for the beginning (default)."
)
_TO_HELP = "End, inclusive: as --from, or '+' for the last entry now (default)."


@click.command()
@config_options
@click.argument("stream")
@click.option("--from", "start", default="-", show_default=True, help=_FROM_HELP)
@click.option("--to", "end", default="+", show_default=True, help=_TO_HELP)
@click.option(
    "--target",
    help="Stream to write into (default: <stream>:replay:<job-id>, a new stream).",
)
@click.option(
    "--mode",
    type=click.Choice(["preserve", "append"]),
    help="preserve: original IDs, into a new stream (default); append: new IDs, "
    "the original in sw:origin-id.",
)
@click.option("--rate", type=float, help="At most this many messages per second.")
@click.option(
    "--pace",
    help="'fast' (default), 'original' (the original spacing) or 'original*K' "
    "(K times faster than it was).",
)
@click.option("--batch-size", type=int, help="Messages written per batch.")
@click.option(
    "--target-ttl", help="Expire a new target this long after the last write."
)
@click.option("--id", "job_id", help="Job ID to use (default: the control entry ID).")
@click.option("--wait", is_flag=True, help="Show progress and wait for the end.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
def replay(
    config: Config,
    stream: str,
    start: str,
    end: str,
    target: str | None,
    mode: str | None,
    rate: float | None,
    pace: str | None,
    batch_size: int | None,
    target_ttl: str | None,
    job_id: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Replay STREAM's messages from --from to --to, from the archive and Redis."""
    fields = request_fields(
        stream,
        start,
        end,
        target=target,
        mode=mode,
        pace=pace,
        rate=rate,
        batch_size=batch_size,
        target_ttl=target_ttl,
        job_id=job_id,
    )
    with translated(address_of(config.redis)):
        client = connect(config.redis)
        job = submit(client, fields)
        if not wait:
            _started(job, as_json)
            return
        final = _follow(job) if not as_json else job.wait()
    if as_json:
        click.echo(json.dumps(final.as_dict(), indent=2))
        return
    _summary(final)


@click.group()
def replays() -> None:
    """List, show and cancel replay jobs."""


@replays.command("list")
@config_options
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_jobs(config: Config, limit: int, as_json: bool) -> None:
    """The newest replay jobs and their state."""
    with translated(address_of(config.redis)):
        client = connect(config.redis)
        ids = [i.decode() for i in client.zrevrange(keys.REPLAY_JOBS, 0, limit - 1)]
        jobs = [ReplayJob(client, job_id) for job_id in ids]
        found = [job.status() for job in jobs if client.exists(job.key)]
    if as_json:
        click.echo(json.dumps([job.as_dict() for job in found], indent=2))
        return
    table = Table(title=f"{len(found)} replay job(s)")
    for column in ("id", "state", "stream", "target", "progress", "error"):
        table.add_column(column)
    for job in found:
        table.add_row(
            job.id,
            job.state,
            job.get("stream"),
            job.get("target", "-"),
            f"{job.replayed}/{job.total}",
            job.get("error", ""),
        )
    Console().print(table)


@replays.command("show")
@config_options
@click.argument("job_id")
@click.option("--wait", is_flag=True, help="Follow the job until it ends.")
def show(config: Config, job_id: str, wait: bool) -> None:
    """Every field of one job's hash."""
    with translated(address_of(config.redis)):
        job = ReplayJob(connect(config.redis), job_id)
        final = _follow(job) if wait else job.status()
    click.echo(json.dumps(final.as_dict(), indent=2))


@replays.command("cancel")
@config_options
@click.argument("job_id")
def cancel(config: Config, job_id: str) -> None:
    """Stop a job (what it wrote stays); a queued job never starts."""
    with translated(address_of(config.redis)):
        job = ReplayJob(connect(config.redis), job_id)
        state = job.status().state
        job.cancel()
    click.echo(f"Asked the broker to cancel replay {job_id} (it was {state}).")


def _started(job: ReplayJob, as_json: bool) -> None:
    status = job.status()
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
        return
    click.echo(
        f"Replay {job.id} {status.state}: {status.get('stream')} into "
        f"{status.get('target')!r}, about {status.total} message(s).\n"
        f"Follow it: streamweaver replays show {job.id} --wait  "
        f"(or HGETALL {job.key})"
    )


def _follow(job: ReplayJob) -> Job:
    columns = (
        TextColumn("[bold]replay {task.fields[job]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("replay", total=None, job=job.id, state="queued")

        def show(status: Job) -> None:
            total = max(status.total, status.replayed) or None
            bar.update(task, completed=status.replayed, total=total, state=status.state)

        try:
            return job.wait(on_progress=show)
        except ReplayError:
            show(job.status())
            raise


def _summary(job: Job) -> None:
    started = int(job.get("started_ms") or job.get("created_ms") or 0)
    finished = int(job.get("finished_ms") or time.time() * 1000)
    took_s = max(0.001, (finished - started) / 1000)
    verb = "Replayed" if job.state == DONE else f"Replay {job.state}:"
    click.echo(
        f"{verb} {job.replayed} message(s) of {job.get('stream')!r} "
        f"({job.get('start_id')} to {job.get('end_id')}) into "
        f"{job.get('target')!r} in {format_duration(took_s)} "
        f"({job.replayed / took_s:,.0f} msg/s)."
    )
    if job.get("message"):
        click.echo(job.get("message"))

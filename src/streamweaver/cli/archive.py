"""``streamweaver archive``: list, verify, export and rebuild a stream's archive."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from streamweaver.archive import layout
from streamweaver.archive.export import FORMATS, count_in_range, export_archive
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.segment import SegmentMeta
from streamweaver.archive.verify import VerifyReport, verify_archive
from streamweaver.cli.common import config_options
from streamweaver.client import ids
from streamweaver.config import Config
from streamweaver.connection import address_of, connect_async, translated
from streamweaver.errors import InvalidIdError
from streamweaver.storage import Store, open_store
from streamweaver.units import format_bytes

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BOUND_HELP = f"{ids.ID_HELP}; {ids.TIME_HELP}"


@click.group("archive")
def archive() -> None:
    """Inspect, check and export the Parquet archive of a stream."""


@archive.command("ls")
@config_options
@click.argument("stream", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def ls_command(config: Config, stream: str | None, as_json: bool) -> None:
    """List a stream's segments (or, without STREAM, the archived streams)."""
    if stream is None:
        streams = _run(config, lambda index, _store: index.streams())
        if as_json:
            click.echo(json.dumps(streams))
        elif not streams:
            click.echo("No stream has an archive yet.")
        else:
            click.echo("\n".join(streams))
        return

    async def load(index: SegmentIndex, store: Store) -> tuple[list, str | None, int]:
        metas = await index.segments(stream)
        stored = 0 if metas else await _count_objects(store, stream)
        return metas, await index.archived_until(stream), stored

    metas, until, stored = _run(config, load)
    if as_json:
        click.echo(json.dumps([_meta_json(meta) for meta in metas], indent=2))
        return
    if not metas:
        click.echo(f"Stream {stream!r} has no segments in the index.")
        if stored:
            click.echo(
                f"The store holds {stored} segment object(s) for it; run "
                f"'streamweaver archive rebuild {stream}' to index them."
            )
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped: do not wrap the IDs at 80 columns
    console.print(_segments_table(stream, metas, until))


@archive.command("verify")
@config_options
@click.argument("stream")
def verify_command(config: Config, stream: str) -> None:
    """Check a stream's segments: presence, checksums, ranges, overlaps and gaps.

    Exits 1 when anything is missing, damaged or inconsistent.
    """
    console = Console(stderr=True)

    async def check(index: SegmentIndex, store: Store) -> VerifyReport:
        total = len(await index.segments(stream))
        with _progress(console) as progress:
            task = progress.add_task("Verifying", total=total)
            return await verify_archive(
                index,
                store,
                stream,
                on_segment=lambda _meta: progress.advance(task),
            )

    report = _run(config, check)
    for warning in report.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    for problem in report.problems:
        click.secho(f"problem: {problem}", fg="red")
    summary = (
        f"{report.segments} segment(s), {report.messages} message(s), "
        f"{format_bytes(report.size_bytes)}, archived until "
        f"{report.archived_until or 'nothing'}"
    )
    if report.ok:
        click.echo(f"Archive of {stream!r} is consistent: {summary}.")
        return
    click.echo(
        f"Archive of {stream!r} has {len(report.problems)} problem(s): {summary}."
    )
    sys.exit(1)


@archive.command("export")
@config_options
@click.argument("stream")
@click.option("--from", "start", help=f"First message to export: {_BOUND_HELP}.")
@click.option("--to", "end", help=f"Last message to export (inclusive): {_BOUND_HELP}.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="jsonl",
    show_default=True,
    help="JSON Lines (values as UTF-8 text or base64) or one Parquet file.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: standard output, for jsonl only).",
)
def export_command(
    config: Config,
    stream: str,
    start: str | None,
    end: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Export a stream's archived messages in an ID or time range."""
    start_id = None if start is None else _bound(start, "--from", end=False)
    end_id = None if end is None else _bound(end, "--to", end=True)
    if output is None and fmt == "parquet":
        raise click.UsageError("a parquet export needs --output FILE")
    console = Console(stderr=True)

    async def run(index: SegmentIndex, store: Store) -> int:
        total = await count_in_range(index, stream, start_id, end_id)
        with _progress(console) as progress, _target(output) as out:
            task = progress.add_task("Exporting", total=total)
            written = await export_archive(
                index,
                store,
                stream,
                out,
                fmt,  # type: ignore[arg-type]
                start_id,
                end_id,
                on_progress=lambda n: progress.advance(task, n),
            )
            progress.update(task, total=written, completed=written)
            return written

    written = _run(config, run)
    where = "standard output" if output is None else str(output)
    console.print(f"Exported {written} message(s) of {stream!r} to {where}.")


@archive.command("rebuild")
@config_options
@click.argument("stream")
def rebuild_command(config: Config, stream: str) -> None:
    """Recreate a stream's segment index in Redis from the store alone."""
    metas = _run(config, lambda index, _store: index.rebuild(stream))
    click.echo(
        f"Indexed {len(metas)} segment(s) of {stream!r} holding "
        f"{sum(meta.count for meta in metas)} message(s)."
    )


def _run(config: Config, action: Callable[[SegmentIndex, Store], Any]) -> Any:
    async def main() -> Any:
        async with _opened(config) as (index, store):
            return await action(index, store)

    return asyncio.run(main())


@asynccontextmanager
async def _opened(config: Config) -> AsyncIterator[tuple[SegmentIndex, Store]]:
    with translated(address_of(config.redis)):
        client = connect_async(config.redis)
        try:
            store = open_store(config.storage)
            yield SegmentIndex(client, store), store
        finally:
            await client.aclose()


@contextlib.contextmanager
def _target(output: Path | None) -> Iterator[BinaryIO]:
    if output is None:
        yield sys.stdout.buffer
        sys.stdout.flush()
        return
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("wb") as file:
            yield file
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


async def _count_objects(store: Store, stream: str) -> int:
    count = 0
    async for info in store.list(layout.stream_prefix(stream)):
        count += layout.parse_segment_name(info.name) is not None
    return count


def _segments_table(stream: str, metas: list[SegmentMeta], until: str | None) -> Table:
    table = Table(title=f"Archive of {stream!r}", title_justify="left")
    table.add_column("#", justify="right")
    for column in ("first ID", "last ID", "from (UTC)", "to (UTC)"):
        table.add_column(column, no_wrap=True)
    table.add_column("messages", justify="right")
    table.add_column("size", justify="right")
    for number, meta in enumerate(metas, 1):
        table.add_row(
            str(number),
            meta.first_id,
            meta.last_id,
            _time(meta.first_ms),
            _time(meta.last_ms),
            f"{meta.count:,}",
            format_bytes(meta.size_bytes),
        )
    table.caption = (
        f"{len(metas)} segment(s), {sum(m.count for m in metas):,} message(s), "
        f"{format_bytes(sum(m.size_bytes for m in metas))}; "
        f"archived until {until or 'nothing'}"
    )
    return table


def _meta_json(meta: SegmentMeta) -> dict[str, Any]:
    return {name: getattr(meta, name) for name in SegmentMeta.__slots__}


def _time(ms: int) -> str:
    try:
        moment = _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _bound(text: str, option: str, *, end: bool) -> str | None:
    try:
        bound = ids.end_bound(text) if end else ids.start_bound(text)
    except InvalidIdError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
    return None if bound in ("-", "+") else bound

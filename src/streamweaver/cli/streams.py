"""``streamweaver streams``: every stream with its size, range, age and groups."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import click
import redis
from rich.console import Console
from rich.table import Table

from streamweaver import keys
from streamweaver.cli.common import config_options
from streamweaver.config import Config
from streamweaver.connection import address_of, connect, translated
from streamweaver.units import format_duration


@dataclass
class GroupRow:
    name: str
    consumers: int
    pending: int
    lag: int | None


@dataclass
class StreamRow:
    name: str
    length: int
    first_id: str | None
    last_id: str | None
    age_s: float | None
    groups: list[GroupRow] = field(default_factory=list)


@click.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--all", "show_internal", is_flag=True, help="Include StreamWeaver's own."
)
def streams(config: Config, as_json: bool, show_internal: bool) -> None:
    """List streams with length, first/last ID and age, groups and lag."""
    with translated(address_of(config.redis)):
        client = connect(config.redis)
        rows = list_streams(client, include_internal=show_internal)
    if as_json:
        click.echo(json.dumps([asdict(row) for row in rows], indent=2))
        return
    Console().print(_table(rows))


def list_streams(
    client: redis.Redis, *, include_internal: bool = False
) -> list[StreamRow]:
    """Read every stream's summary with two pipelined round trips."""
    names = sorted(
        key.decode("utf-8", "surrogateescape")
        for key in client.scan_iter(count=1000, _type="stream")
        if include_internal or not keys.is_internal(key)
    )
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.xinfo_stream(name)
        pipe.xinfo_groups(name)
    replies = pipe.execute(raise_on_error=False)
    now_ms = time.time() * 1000
    rows = []
    for name, info, groups in zip(names, replies[::2], replies[1::2], strict=True):
        if isinstance(info, Exception):
            continue  # deleted between SCAN and XINFO
        rows.append(_row(name, info, groups, now_ms))
    return rows


def _row(name: str, info: dict, groups: list | Exception, now_ms: float) -> StreamRow:
    first = _entry_id(info.get("first-entry"))
    last = _entry_id(info.get("last-entry"))
    age_s = (now_ms - int(first.split("-")[0])) / 1000 if first else None
    row = StreamRow(name, info["length"], first, last, age_s)
    if not isinstance(groups, Exception):
        row.groups = [
            GroupRow(
                name=_text(g["name"]),
                consumers=g["consumers"],
                pending=g["pending"],
                lag=g.get("lag"),
            )
            for g in groups
        ]
    return row


def _entry_id(entry: object) -> str | None:
    if not entry:
        return None
    return _text(entry[0])  # type: ignore[index]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _table(rows: list[StreamRow]) -> Table:
    table = Table(title=f"{len(rows)} stream(s)")
    for column in ("stream", "length", "first ID", "last ID", "age", "groups (lag)"):
        table.add_column(column, justify="right" if column == "length" else "left")
    for row in rows:
        groups = ", ".join(
            f"{g.name} ({'?' if g.lag is None else g.lag})" for g in row.groups
        )
        table.add_row(
            row.name,
            str(row.length),
            row.first_id or "-",
            row.last_id or "-",
            format_duration(row.age_s) if row.age_s is not None else "-",
            groups or "-",
        )
    return table

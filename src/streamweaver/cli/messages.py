"""``streamweaver produce | consume | tail``: messages from the command line."""

from __future__ import annotations

import base64
import json
import signal
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, TextIO

import click

from streamweaver.cli.common import config_options
from streamweaver.client import Client, ConsumerOptions, Message
from streamweaver.config import Config
from streamweaver.units import DURATION_HELP, parse_duration_s

STDIN_BATCH = 1000
"""Lines of stdin produced per round trip."""


def open_client(config: Config) -> Client:
    """A client for the configured Redis (the archive is not needed here)."""
    return Client.from_config(config.redis)


@click.command()
@config_options
@click.argument("stream")
@click.argument("pairs", nargs=-1, metavar="[FIELD=VALUE | FIELD:=JSON]... | -")
@click.option("--json", "json_text", help="The whole message as one JSON object.")
def produce(
    config: Config, stream: str, pairs: tuple[str, ...], json_text: str | None
) -> None:
    """Add a message to STREAM and print its ID.

    FIELD=VALUE stores VALUE as text; FIELD:=JSON stores a typed value
    (n:=42, ok:=true, tags:='["a"]'). With --json the message is one JSON
    object. With - as the only argument, each line of standard input is a JSON
    object and one message; the IDs are printed in order.
    """
    with open_client(config) as client:
        if pairs == ("-",) and json_text is None:
            for message_id in _produce_lines(client, stream, sys.stdin):
                click.echo(message_id)
            return
        client_fields = _fields_from_args(pairs, json_text)
        click.echo(client.produce(stream, client_fields))


@click.command()
@config_options
@click.argument("stream")
@click.option("--group", "-g", required=True, help="Consumer group (created if new).")
@click.option("--consumer", "-c", help="Consumer name (default: <host>-<pid>).")
@click.option(
    "--count", "-n", type=click.IntRange(min=1), help="Stop after N messages."
)
@click.option(
    "--from",
    "start",
    default="$",
    show_default=True,
    help="Where a new group starts: $ (new messages), 0 (all), an ID or a time "
    "(2024-05-01T12:00:00Z, -2h).",
)
@click.option(
    "--max-deliveries", type=click.IntRange(min=1), default=5, show_default=True
)
@click.option(
    "--claim-idle",
    default="30s",
    show_default=True,
    help=f"Reclaim messages pending this long on other consumers; {DURATION_HELP}.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def consume(
    config: Config,
    stream: str,
    group: str,
    consumer: str | None,
    count: int | None,
    start: str,
    max_deliveries: int,
    claim_idle: str,
    as_json: bool,
) -> None:
    """Read STREAM as a consumer in a group; print and acknowledge each message.

    Runs until --count messages were handled or Ctrl-C; Ctrl-C lets the current
    message finish and releases the rest to the group.
    """
    claim_idle_ms = _duration_ms("--claim-idle", claim_idle)
    with open_client(config) as client, _stop_on_signals(client):
        running = client.consume(
            stream,
            group,
            consumer,
            start=start,
            claim_idle_ms=claim_idle_ms,
            max_deliveries=max_deliveries,
            count=min(count or 100, 100),
            # reading ahead would fetch messages past --count only to release them
            options=ConsumerOptions(prefetch=count is None),
        )
        with running:
            for message in islice(running, count):
                _print(message, as_json)
                message.ack()


@click.command()
@config_options
@click.argument("stream")
@click.option(
    "--from",
    "start",
    default="$",
    show_default=True,
    help="Start at $ (new messages only), 0 (the beginning), an ID or a time "
    "(2024-05-01T12:00:00Z, -15m).",
)
@click.option(
    "--count", "-n", type=click.IntRange(min=1), help="Stop after N messages."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def tail(
    config: Config, stream: str, start: str, count: int | None, as_json: bool
) -> None:
    """Print messages of STREAM as they arrive, until --count or Ctrl-C."""
    with open_client(config) as client, _stop_on_signals(client):
        for message in islice(client.tail(stream, start), count):
            _print(message, as_json)


def _fields_from_args(pairs: tuple[str, ...], json_text: str | None) -> dict[str, Any]:
    if json_text is not None:
        if pairs:
            raise click.UsageError(
                "give either FIELD=VALUE arguments or --json, not both"
            )
        return _json_object(json_text, "--json")
    if not pairs:
        raise click.UsageError("give FIELD=VALUE arguments, --json, or - for stdin")
    fields: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.UsageError(
                f"{pair!r} is not FIELD=VALUE or FIELD:=JSON (for example qty:=3)"
            )
        if name.endswith(":"):
            fields[name[:-1]] = _json_value(value, f"field {name[:-1]!r}")
        else:
            fields[name] = value
    return fields


def _produce_lines(client: Client, stream: str, lines: TextIO) -> Iterator[str]:
    numbered = enumerate(lines, start=1)
    while batch := list(islice(_messages(numbered), STDIN_BATCH)):
        yield from client.produce_batch(stream, batch)


def _messages(numbered: Iterable[tuple[int, str]]) -> Iterator[dict[str, Any]]:
    for number, line in numbered:
        if line.strip():
            yield _json_object(line, f"line {number} of standard input")


def _json_object(text: str, where: str) -> dict[str, Any]:
    value = _json_value(text, where)
    if not isinstance(value, dict) or not value:
        raise click.BadParameter(f"{where}: expected a non-empty JSON object")
    return value


def _json_value(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"{where}: not valid JSON ({exc})") from None


def _duration_ms(option: str, text: str) -> int:
    try:
        return max(1, round(parse_duration_s(text) * 1000))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _print(message: Message, as_json: bool) -> None:
    if as_json:
        record = {
            "stream": message.stream,
            "id": message.id,
            "fields": message.fields,
            "headers": message.headers,
            "delivery_count": message.delivery_count,
        }
        click.echo(json.dumps(record, ensure_ascii=False, default=_json_default))
        return
    shown = " ".join(f"{name}={_text(value)}" for name, value in message.fields.items())
    headers = " ".join(f"{name}={value}" for name, value in message.headers.items())
    click.echo(" ".join(part for part in (message.id, shown, headers) if part))


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    raise TypeError(f"cannot show a {type(value).__name__}")


@contextmanager
def _stop_on_signals(client: Client) -> Iterator[None]:
    """Ctrl-C or SIGTERM stop the client's loops gracefully; a second one aborts."""

    def stop(signum: int, frame: object) -> None:
        client.stop()
        signal.signal(signum, previous.get(signum, signal.SIG_DFL))

    previous: dict[int, Any] = {}
    if sys.platform != "win32":
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[signum] = signal.signal(signum, stop)
            except ValueError:  # not the main thread: leave signals alone
                break
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

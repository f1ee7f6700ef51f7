"""Sans-IO building blocks: the effects an operation asks for and reply parsing.

An operation is a generator that yields effects (:class:`Call`, :class:`Batch`,
:class:`Packed`) and receives their raw replies; its return value is the result.
:class:`Send`, :class:`Receive` and :class:`Release` work on a :class:`Channel`,
a connection kept across effects. The sync and asyncio drivers in
:mod:`._driver` carry the effects out, so every
operation is written once for both clients. Replies arrive as RESP2 parsed by
hiredis or redis-py without any response callback: lists and bytes.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.exceptions

from streamweaver.errors import (
    GroupExistsError,
    GroupNotFoundError,
    InvalidIdError,
    StreamError,
    StreamNotFoundError,
    StreamWeaverError,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One command; ``stream`` and ``group`` give errors their context."""

    args: tuple[Any, ...]
    stream: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """Commands sent in one round trip, in MULTI/EXEC when ``transaction``.

    Without a transaction the reply list holds an exception where a command
    failed; with one, a failure raises.
    """

    calls: tuple[Call, ...]
    transaction: bool = False


@dataclass(frozen=True, slots=True)
class Packed:
    """Commands already encoded as RESP, sent as one write; ``replies`` expected.

    The reply list holds a ``redis.exceptions.ResponseError`` where a command
    failed.
    """

    payload: bytes
    replies: int
    stream: str | None = None


class Channel:
    """A connection one party keeps across effects; the driver fills ``conn``.

    A consumer sends its next read on it and receives the reply later, so that
    Redis prepares the next batch while the application handles this one.
    """

    __slots__ = ("conn",)

    def __init__(self) -> None:
        self.conn: Any = None


@dataclass(frozen=True, slots=True)
class Send:
    """Write RESP on a channel without waiting; :class:`Receive` reads replies."""

    channel: Channel
    payload: bytes
    stream: str | None = None


@dataclass(frozen=True, slots=True)
class Receive:
    """Read ``replies`` replies from a channel (errors inline, as for Packed)."""

    channel: Channel
    replies: int
    stream: str | None = None


@dataclass(frozen=True, slots=True)
class Release:
    """Give a channel's connection back; it must have no reply left unread."""

    channel: Channel


Effect = Call | Batch | Packed | Send | Receive | Release
Op = Generator[Effect, Any, T]
Entry = tuple[str, list[bytes]]
"""An entry as read: its ID and flat field/value list."""


def parse_entries(reply: Sequence[Any] | None) -> list[Entry]:
    """Entries from an XRANGE-shaped reply, skipping ones deleted meanwhile."""
    if not reply:
        return []
    return [
        (entry_id.decode(), flat)
        for entry_id, flat in (item for item in reply if item is not None)
        if flat is not None
    ]


def parse_stream_reply(reply: Any) -> list[Entry]:
    """Entries of the single stream in an XREAD / XREADGROUP reply."""
    return parse_entries(stream_reply_entries(reply))


def stream_reply_entries(reply: Any) -> list[Any]:
    """The raw ``[id, fields]`` items of the single stream in an XREAD reply."""
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        return next(iter(reply.values())) or []
    return reply[0][1] or []


def parse_autoclaim(reply: Sequence[Any]) -> tuple[str, list[Entry], list[str]]:
    """Next cursor, claimed entries and IDs deleted from the stream (Redis 7+)."""
    cursor = reply[0].decode()
    deleted = [item.decode() for item in reply[2]] if len(reply) > 2 else []
    return cursor, parse_entries(reply[1]), deleted


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """One entry of a group's pending list (XPENDING extended form)."""

    id: str
    consumer: str
    idle_ms: int
    deliveries: int
    stream: str | None = None
    """The stream the entry is pending on: for a logical stream, its partition."""


def parse_pending(reply: Sequence[Any] | None) -> list[PendingEntry]:
    """The rows of an extended XPENDING reply."""
    return [
        PendingEntry(row[0].decode(), row[1].decode(), int(row[2]), int(row[3]))
        for row in reply or ()
    ]


def translate_reply_error(
    exc: redis.exceptions.ResponseError,
    stream: str | None = None,
    group: str | None = None,
    command: str | None = None,
) -> StreamWeaverError:
    """Turn an error reply from Redis into one of ours, with context."""
    text = str(exc)
    # redis-py prefixes errors inside a pipeline with "Command # n (...) of pipeline"
    text = text.split("caused error: ", 1)[-1]
    code = text.split(" ", 1)[0]
    where = f" on stream {stream!r}" if stream else ""
    if code == "NOGROUP":
        return GroupNotFoundError(
            f"consumer group {group!r} does not exist{where} (or the stream does "
            "not exist); create it with create_group()",
            stream=stream,
            group=group,
        )
    if code == "BUSYGROUP":
        return GroupExistsError(
            f"consumer group {group!r} already exists{where}",
            stream=stream,
            group=group,
        )
    if "requires the key to exist" in text or text.startswith("ERR no such key"):
        return StreamNotFoundError(f"stream {stream!r} does not exist", stream=stream)
    if code == "WRONGTYPE":
        return StreamError(
            f"key {stream!r} holds another type of value, not a stream", stream=stream
        )
    if "Invalid stream ID" in text or "equal or smaller" in text:
        return InvalidIdError(f"Redis rejected the stream ID{where}: {text}")
    action = " ".join(
        part for part in ("Redis refused", command, where.strip()) if part
    )
    return StreamError(f"{action}: {text}", stream=stream)


def translate_for(effect: Effect, exc: redis.exceptions.ResponseError) -> Exception:
    """Translate an error reply to the effect that caused it."""
    call = effect.calls[0] if isinstance(effect, Batch) and effect.calls else effect
    if isinstance(call, Call):
        return translate_reply_error(exc, call.stream, call.group, str(call.args[0]))
    return translate_reply_error(exc, getattr(call, "stream", None))

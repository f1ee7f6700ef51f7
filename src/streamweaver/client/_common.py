"""Argument checking and message building shared by the sync and asyncio clients."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict, TypeVar

from streamweaver.client import _ops
from streamweaver.client._ops import MessageInput, RangeCursor
from streamweaver.client._setup import Target, default_consumer_name, redis_config_of
from streamweaver.client.codec import EncodedMessage
from streamweaver.client.ids import Position, end_bound, last_seen_id, start_bound
from streamweaver.client.message import BaseMessage
from streamweaver.client.names import check_group, check_stream
from streamweaver.client.options import ConsumerOptions
from streamweaver.config import RedisConfig
from streamweaver.connection import address_of
from streamweaver.errors import ConfigError, DecodingError

log = logging.getLogger("streamweaver.client")

M = TypeVar("M", bound=BaseMessage)


class ConsumeKwargs(TypedDict, total=False):
    """The keyword options of ``consume()``, which ``run_consumer()`` passes on."""

    start: Position
    create_group: bool
    options: ConsumerOptions | None
    count: int | None
    block_ms: int | None
    claim_idle_ms: int | None
    max_deliveries: int | None


class ClientSetup:
    """What a client knows before any IO: where Redis is and its limits."""

    def __init__(
        self,
        target: Target,
        host: str | None,
        port: int | None,
        max_message_bytes: int,
    ) -> None:
        self.config: RedisConfig = redis_config_of(target, host, port)
        self.address = address_of(self.config)
        self.max_message_bytes = _positive("max_message_bytes", max_message_bytes)

    def encode(
        self, stream: str, message: MessageInput, headers: Mapping[str, str] | None
    ) -> EncodedMessage:
        return _ops.prepare(
            check_stream(stream), message, headers, self.max_message_bytes
        )

    def encode_batch(
        self, stream: str, messages: Iterable[MessageInput]
    ) -> list[Sequence[bytes]]:
        return _ops.encode_all(check_stream(stream), messages, self.max_message_bytes)

    def range_cursor(
        self,
        stream: str,
        start: Position,
        end: Position,
        count: int | None,
        batch_size: int,
    ) -> RangeCursor:
        check_stream(stream)
        if count is not None:
            _positive("count", count, allow_zero=True)
        return RangeCursor(
            stream,
            start_bound(start),
            end_bound(end),
            count,
            _positive("batch_size", batch_size),
        )

    def consumer_args(
        self,
        stream: str,
        group: str,
        consumer: str | None,
        options: ConsumerOptions | None,
        overrides: dict[str, Any],
    ) -> tuple[str, ConsumerOptions]:
        check_stream(stream)
        check_group(stream, group)
        name = default_consumer_name() if consumer is None else consumer
        check_group(stream, name, "consumer")
        chosen = {key: value for key, value in overrides.items() if value is not None}
        return name, dataclasses.replace(options or ConsumerOptions(), **chosen)


def group_start(start: Position) -> str:
    """The XGROUP CREATE ID for an inclusive start position."""
    return last_seen_id(start)


def tail_after(start: Position) -> str | None:
    """The exclusive ID a tail starts after; None means "the current end"."""
    return None if start == "$" else last_seen_id(start)


def build_message(
    cls: type[M], stream: str, entry_id: str, flat: list[bytes], **extra: Any
) -> M:
    """A message of the given class for a read entry (decoded on first use)."""
    return cls(stream, entry_id, flat, **extra)


def _positive(name: str, value: int, *, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{name} must be {kind} integer, got {value!r}")
    return value


def log_handler_failure(message: BaseMessage, exc: Exception) -> None:
    log.warning(
        "The handler failed on message %s of %r (delivery %s): %s",
        message.id,
        message.stream,
        message.delivery_count,
        describe_failure(exc),
        exc_info=exc,
    )


def is_undecodable(message: BaseMessage, exc: Exception) -> bool:
    """Whether a handler failed because this message's fields do not decode."""
    return isinstance(exc, DecodingError) and exc.message_id == message.id


def describe_failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"

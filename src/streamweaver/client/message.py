"""The message a read or a consumer hands to the application."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from streamweaver.client.codec import EncodedMessage, Value, decode_message
from streamweaver.client.ids import parse_id
from streamweaver.errors import DecodingError, MessageError


class Settler(Protocol):
    def settle_ack(self, message: Message) -> None: ...
    def settle_nack(
        self, message: Message, delay_ms: int, reason: str | None
    ) -> None: ...
    def settle_dead_letter(self, message: Message, reason: str) -> None: ...


class AsyncSettler(Protocol):
    async def settle_ack(self, message: AsyncMessage) -> None: ...
    async def settle_nack(
        self, message: AsyncMessage, delay_ms: int, reason: str | None
    ) -> None: ...
    async def settle_dead_letter(self, message: AsyncMessage, reason: str) -> None: ...


@dataclass(slots=True, repr=False)
class BaseMessage:
    """One stream entry; what sync and async messages share.

    ``fields`` and ``headers`` are decoded on first access, so a message that
    is only passed on or acknowledged costs no decoding; an entry that breaks
    the encoding raises :class:`~streamweaver.errors.DecodingError` there.
    """

    stream: str
    id: str
    flat: Sequence[bytes]
    """The entry's field names and values, alternating, exactly as stored."""
    delivery_count: int | None = None
    """How often the group has delivered this entry, counting this delivery."""
    group: str | None = None
    consumer: str | None = None
    _settler: Any = field(default=None, compare=False)
    _outcome: str | None = field(default=None, init=False, compare=False)
    _decoded: tuple[dict[str, Value], dict[str, str]] | None = field(
        default=None, init=False, compare=False
    )

    @property
    def fields(self) -> dict[str, Value]:
        """The user fields, decoded to their original types."""
        return (self._decoded or self._decode())[0]

    @property
    def headers(self) -> dict[str, str]:
        """StreamWeaver's ``sw:`` header fields (``sw:types`` excepted)."""
        return (self._decoded or self._decode())[1]

    def _decode(self) -> tuple[dict[str, Value], dict[str, str]]:
        self._decoded = decode_message(
            self.flat, stream=self.stream, message_id=self.id
        )
        return self._decoded

    @property
    def raw(self) -> EncodedMessage:
        """The entry's field/value pairs as stored, ready to be produced again."""
        return EncodedMessage(self.flat)

    @property
    def raw_fields(self) -> dict[bytes, bytes]:
        """The stored field/value pairs as a dict of bytes."""
        return dict(self.raw.pairs)

    def __repr__(self) -> str:
        try:
            shown = repr(self.fields)
        except DecodingError:
            shown = f"<undecodable {self.raw_fields!r}>"
        count = f", delivery_count={self.delivery_count}" if self.group else ""
        return (
            f"{type(self).__name__}(stream={self.stream!r}, id={self.id!r}, "
            f"fields={shown}{count})"
        )

    @property
    def time_ms(self) -> int:
        """When Redis added the entry, in epoch milliseconds (from the ID)."""
        return parse_id(self.id).ms

    @property
    def time(self) -> datetime:
        """When Redis added the entry, in UTC (from the ID)."""
        return parse_id(self.id).to_datetime()

    @property
    def settled(self) -> bool:
        """Whether the message was acked, nacked or dead-lettered."""
        return self._outcome is not None

    def _settler_for(self) -> Any:
        if self._settler is None:
            raise MessageError(
                f"message {self.id} of {self.stream!r} was not read through a "
                "consumer group, so there is nothing to acknowledge",
                stream=self.stream,
                message_id=self.id,
            )
        if self._outcome is not None:
            raise MessageError(
                f"message {self.id} of {self.stream!r} was already {self._outcome}",
                stream=self.stream,
                message_id=self.id,
            )
        return self._settler


class Message(BaseMessage):
    """A stream entry; one from a consumer can be acked, nacked or dead-lettered."""

    __slots__ = ()

    def ack(self) -> None:
        """Acknowledge the message; sent with the consumer's next read at the latest."""
        if self._outcome is None and self._settler is not None:
            self._settler.settle_ack(self)
            self._outcome = "acknowledged"
        elif self._outcome != "acknowledged":
            self._settler_for()  # raises, saying why

    def nack(self, delay_ms: int = 0, *, reason: str | None = None) -> None:
        """Give the message back for redelivery, now or after ``delay_ms``."""
        self._settler_for().settle_nack(self, delay_ms, reason)
        self._outcome = "nacked"

    def dead_letter(self, reason: str) -> None:
        """Move the message to the dead-letter stream without retrying it."""
        self._settler_for().settle_dead_letter(self, reason)
        self._outcome = "dead-lettered"


class AsyncMessage(BaseMessage):
    """A stream entry from the asyncio client."""

    __slots__ = ()

    async def ack(self) -> None:
        """Acknowledge the message; sent with the consumer's next read at the latest."""
        if self._outcome == "acknowledged":
            return
        await self._settler_for().settle_ack(self)
        self._outcome = "acknowledged"

    async def nack(self, delay_ms: int = 0, *, reason: str | None = None) -> None:
        """Give the message back for redelivery, now or after ``delay_ms``."""
        await self._settler_for().settle_nack(self, delay_ms, reason)
        self._outcome = "nacked"

    async def dead_letter(self, reason: str) -> None:
        """Move the message to the dead-letter stream without retrying it."""
        await self._settler_for().settle_dead_letter(self, reason)
        self._outcome = "dead-lettered"

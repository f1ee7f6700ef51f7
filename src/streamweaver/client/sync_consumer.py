"""A consumer in a consumer group, for the synchronous client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import TracebackType

from streamweaver.client._consumer import ConsumerCore
from streamweaver.client._driver import SyncDriver
from streamweaver.client._protocol import Op
from streamweaver.client.message import Message
from streamweaver.client.options import ConsumerOptions
from streamweaver.errors import StreamWeaverError

log = logging.getLogger(__name__)


class Consumer:
    """Iterate for messages; ack or nack each. Stops on :meth:`stop`.

    Acks are collected and sent in one XACK with the next read, or with a later
    ack once the oldest is ``ack_flush_ms`` old, or when the loop is left. The
    next batch is asked for as soon as one arrives (``prefetch``), on a
    connection the consumer keeps while a loop runs. Leaving the ``for`` loop
    or the ``with`` block sends the acks, gives the connection back and releases
    the messages read but not handed out, so other consumers of the group get
    them at their next reclaim.
    """

    def __init__(
        self,
        driver: SyncDriver,
        stream: str,
        group: str,
        name: str,
        options: ConsumerOptions,
    ) -> None:
        self._driver = driver
        self._core = ConsumerCore(stream, group, name, options, Message, self)

    @property
    def stream(self) -> str:
        return self._core.stream

    @property
    def group(self) -> str:
        return self._core.group

    @property
    def name(self) -> str:
        """This consumer's name in the group."""
        return self._core.consumer

    def __iter__(self) -> Iterator[Message]:
        self._core.iterating = True
        try:
            core = self._core
            buffer = core.buffer
            while True:
                # The buffered case inlined: this loop runs for every message.
                if buffer and not core.stop_requested:
                    yield buffer.popleft()
                    continue
                message = self._driver.run(core.next_message())
                if message is None:
                    return
                yield message
        finally:
            self._core.iterating = False
            self._finish(self._core.pause())

    def __enter__(self) -> Consumer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def stop(self) -> None:
        """Hand out no more messages; the loop ends within ``block_ms``."""
        self._core.stop_requested = True

    def flush(self) -> None:
        """Send the collected acks now."""
        self._driver.run(self._core.flush_acks())

    def close(self) -> None:
        """Send the collected acks, release unhandled messages and stop for good."""
        self._finish(self._core.close())

    def _finish(self, op: Op[None]) -> None:
        try:
            self._driver.run(op)
        except StreamWeaverError as exc:
            log.warning(
                "Could not finish consumer %r of group %r on %r cleanly (%s); "
                "its unacknowledged messages will be delivered again after "
                "claim_idle_ms.",
                self.name,
                self.group,
                self.stream,
                exc,
            )

    def settle_ack(self, message: Message) -> None:
        if self._core.record_ack(message.id):
            self.flush()

    def settle_nack(self, message: Message, delay_ms: int, reason: str | None) -> None:
        self._driver.run(
            self._core.nack(
                message.id,
                list(message.raw.flat),
                message.delivery_count,
                delay_ms,
                reason,
            )
        )

    def settle_dead_letter(self, message: Message, reason: str) -> None:
        self._driver.run(
            self._core.dead_letter(
                message.id, list(message.raw.flat), message.delivery_count, reason
            )
        )

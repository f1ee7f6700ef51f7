"""A consumer in a consumer group, for the asyncio client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import TracebackType

from streamweaver.client._consumer import ConsumerCore
from streamweaver.client._driver import AsyncDriver
from streamweaver.client._protocol import Op
from streamweaver.client.message import AsyncMessage
from streamweaver.client.options import ConsumerOptions
from streamweaver.errors import StreamWeaverError

log = logging.getLogger(__name__)


class AsyncConsumer:
    """``async for`` messages; ``await msg.ack()``. Stops on :meth:`stop`.

    Acks and closing work as for :class:`~streamweaver.client.Consumer`. Use
    ``async with`` so the consumer is closed even when the loop is left early.
    """

    def __init__(
        self,
        driver: AsyncDriver,
        stream: str,
        group: str,
        name: str,
        options: ConsumerOptions,
        prepare: Op[object] | None = None,
    ) -> None:
        self._driver = driver
        self._prepare = prepare
        self._core = ConsumerCore(stream, group, name, options, AsyncMessage, self)

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

    async def __aiter__(self) -> AsyncIterator[AsyncMessage]:
        await self._ready()
        self._core.iterating = True
        try:
            core = self._core
            buffer = core.buffer
            while True:
                # The buffered case inlined: this loop runs for every message.
                if buffer and not core.stop_requested:
                    yield buffer.popleft()
                    continue
                message = await self._driver.run(core.next_message())
                if message is None:
                    return
                yield message
        finally:
            self._core.iterating = False
            await self._pause()

    async def __aenter__(self) -> AsyncConsumer:
        await self._ready()
        return self

    async def _ready(self) -> None:
        prepare, self._prepare = self._prepare, None
        if prepare is not None:
            await self._driver.run(prepare)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def stop(self) -> None:
        """Hand out no more messages; the loop ends within ``block_ms``."""
        self._core.stop_requested = True

    async def flush(self) -> None:
        """Send the collected acks now."""
        await self._driver.run(self._core.flush_acks())

    async def aclose(self) -> None:
        """Send the collected acks, release unhandled messages and stop for good."""
        await self._finish(self._core.close())

    async def _pause(self) -> None:
        await self._finish(self._core.pause())

    async def _finish(self, op: Op[None]) -> None:
        try:
            await self._driver.run(op)
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

    async def settle_ack(self, message: AsyncMessage) -> None:
        if self._core.record_ack(message.id):
            await self.flush()

    async def settle_nack(
        self, message: AsyncMessage, delay_ms: int, reason: str | None
    ) -> None:
        await self._driver.run(
            self._core.nack(
                message.id,
                list(message.raw.flat),
                message.delivery_count,
                delay_ms,
                reason,
            )
        )

    async def settle_dead_letter(self, message: AsyncMessage, reason: str) -> None:
        await self._driver.run(
            self._core.dead_letter(
                message.id, list(message.raw.flat), message.delivery_count, reason
            )
        )

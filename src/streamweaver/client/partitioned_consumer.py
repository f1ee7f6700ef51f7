"""Consumers of a partitioned stream, for the synchronous and asyncio clients.

They behave like :class:`~streamweaver.client.Consumer`: iterate, ack or nack
each message, leave the loop to release what was not handed out. Each message's
``stream`` is the partition it came from. The partitions are spread over the
group's live consumers and move when consumers join or leave; see
:mod:`._partitioned_membership` and docs/protocol.md, "Partitioned streams".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

from streamweaver.client._driver import AsyncDriver, SyncDriver
from streamweaver.client._partitioned_core import PartitionedCore
from streamweaver.client._partitioned_membership import MembershipOptions
from streamweaver.client._protocol import Op
from streamweaver.client.message import AsyncMessage, Message
from streamweaver.client.options import ConsumerOptions
from streamweaver.errors import StreamWeaverError
from streamweaver.partitioning import Partitioning

log = logging.getLogger("streamweaver.client.partitioned")


class _Shell:
    _core: PartitionedCore[Any]

    @property
    def stream(self) -> str:
        """The logical stream."""
        return self._core.stream

    @property
    def group(self) -> str:
        return self._core.group

    @property
    def name(self) -> str:
        """This consumer's name in the group."""
        return self._core.consumer

    @property
    def partitions(self) -> tuple[str, ...]:
        """The partitions this consumer reads now (empty before the first read)."""
        return self._core.owned

    @property
    def members(self) -> tuple[str, ...]:
        """The group's live consumers, as of this consumer's last heartbeat."""
        return self._core.members

    def stop(self) -> None:
        """Hand out no more messages; the loop ends within ``block_ms``."""
        self._core.stop_requested = True

    def _warn_unclean(self, exc: Exception) -> None:
        log.warning(
            "Could not finish consumer %r of group %r on %r cleanly (%s); its "
            "unacknowledged messages will be delivered again after claim_idle_ms.",
            self.name,
            self.group,
            self.stream,
            exc,
        )


class PartitionedConsumer(_Shell):
    """A group consumer of a logical stream (synchronous client)."""

    def __init__(
        self,
        driver: SyncDriver,
        partitioning: Partitioning,
        group: str,
        name: str,
        options: ConsumerOptions,
        membership: MembershipOptions,
        *,
        multi_key: bool,
    ) -> None:
        self._driver = driver
        self._core = PartitionedCore(
            partitioning, group, name, options, membership, Message, self,
            multi_key=multi_key,
        )  # fmt: skip

    def __iter__(self) -> Iterator[Message]:
        core = self._core
        core.iterating = True
        try:
            while True:
                message = core.pop_ready()
                if message is not None:
                    yield message
                    continue
                if core.stop_requested:
                    return
                if self._driver.run(core.fetch()):
                    time.sleep(core.membership.heartbeat_ms / 1000)
        finally:
            core.iterating = False
            self._finish(core.pause())

    def __enter__(self) -> PartitionedConsumer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def flush(self) -> None:
        """Send the collected acks now."""
        self._driver.run(self._core.flush_acks())

    def close(self) -> None:
        """Send acks, release unhandled messages, leave the group's membership."""
        self._finish(self._core.close())

    def _finish(self, op: Op[None]) -> None:
        try:
            self._driver.run(op)
        except StreamWeaverError as exc:
            self._warn_unclean(exc)

    def settle_ack(self, message: Message) -> None:
        if self._core.record_ack(message):
            self.flush()

    def settle_nack(self, message: Message, delay_ms: int, reason: str | None) -> None:
        self._driver.run(self._core.nack(message, delay_ms, reason))

    def settle_dead_letter(self, message: Message, reason: str) -> None:
        self._driver.run(self._core.dead_letter(message, reason))


class AsyncPartitionedConsumer(_Shell):
    """A group consumer of a logical stream (asyncio client)."""

    def __init__(
        self,
        driver: AsyncDriver,
        partitioning: Partitioning,
        group: str,
        name: str,
        options: ConsumerOptions,
        membership: MembershipOptions,
        *,
        multi_key: bool,
        prepare: Op[object] | None = None,
    ) -> None:
        self._driver = driver
        self._prepare = prepare
        self._core = PartitionedCore(
            partitioning, group, name, options, membership, AsyncMessage, self,
            multi_key=multi_key,
        )  # fmt: skip

    async def _ready(self) -> None:
        if self._prepare is not None:
            prepare, self._prepare = self._prepare, None
            await self._driver.run(prepare)

    async def __aiter__(self) -> AsyncIterator[AsyncMessage]:
        await self._ready()
        core = self._core
        core.iterating = True
        try:
            while True:
                message = core.pop_ready()
                if message is not None:
                    yield message
                    continue
                if core.stop_requested:
                    return
                if await self._driver.run(core.fetch()):
                    await asyncio.sleep(core.membership.heartbeat_ms / 1000)
        finally:
            core.iterating = False
            await self._finish(core.pause())

    async def __aenter__(self) -> AsyncPartitionedConsumer:
        await self._ready()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def flush(self) -> None:
        """Send the collected acks now."""
        await self._driver.run(self._core.flush_acks())

    async def aclose(self) -> None:
        """Send acks, release unhandled messages, leave the group's membership."""
        await self._finish(self._core.close())

    async def _finish(self, op: Op[None]) -> None:
        try:
            await self._driver.run(op)
        except StreamWeaverError as exc:
            self._warn_unclean(exc)

    async def settle_ack(self, message: AsyncMessage) -> None:
        if self._core.record_ack(message):
            await self.flush()

    async def settle_nack(
        self, message: AsyncMessage, delay_ms: int, reason: str | None
    ) -> None:
        await self._driver.run(self._core.nack(message, delay_ms, reason))

    async def settle_dead_letter(self, message: AsyncMessage, reason: str) -> None:
        await self._driver.run(self._core.dead_letter(message, reason))

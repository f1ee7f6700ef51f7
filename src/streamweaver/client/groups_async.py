"""Consumer groups of the asyncio client: create, inspect and consume them.

A mixin of :class:`~streamweaver.client.AsyncClient`, kept apart so the facade
stays small; logical streams are handed to :class:`.PartitionedAsync`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Unpack

from streamweaver.client import _ops
from streamweaver.client import partitioned_groups as groups
from streamweaver.client._common import (
    ClientSetup,
    ConsumeKwargs,
    describe_failure,
    group_start,
    is_undecodable,
    log_handler_failure,
)
from streamweaver.client._driver import AsyncDriver
from streamweaver.client._partitioned_membership import MembershipOptions
from streamweaver.client._protocol import PendingEntry
from streamweaver.client.async_consumer import AsyncConsumer
from streamweaver.client.ids import Position
from streamweaver.client.message import AsyncMessage
from streamweaver.client.names import check_group, check_stream
from streamweaver.client.options import ConsumerOptions
from streamweaver.partitioning import Partitioning


class GroupsAsync:
    """Mixed into :class:`~streamweaver.client.AsyncClient`."""

    _driver: AsyncDriver
    _setup: ClientSetup
    _running: Any
    _logical: Callable[[str], Coroutine[Any, Any, Partitioning | None]]
    _consume_any: Callable[..., Any]

    async def create_group(
        self,
        stream: str,
        group: str,
        start: Position = "$",
        *,
        mkstream: bool = True,
        exist_ok: bool = False,
    ) -> bool:
        """Create a consumer group that delivers from ``start`` on (inclusive).

        ``start`` is ``$`` (only new messages), ``0`` or ``-`` (everything), an
        ID or a time. Return False if it existed and ``exist_ok`` is set.
        Logical streams work as in :meth:`Client.create_group`.
        """
        check_group(check_stream(stream), group)
        op = groups.create_group(
            stream, await self._logical(stream), group, group_start(start),
            mkstream=mkstream, exist_ok=exist_ok,
        )  # fmt: skip
        return await self._driver.run(op)

    async def delete_group(self, stream: str, group: str) -> bool:
        """Delete a consumer group; return False if it did not exist.

        Logical streams work as in :meth:`Client.delete_group`.
        """
        check_group(check_stream(stream), group)
        op = groups.delete_group(stream, await self._logical(stream), group)
        return await self._driver.run(op)

    async def pending(
        self, stream: str, group: str, *, consumer: str | None = None, count: int = 100
    ) -> list[PendingEntry]:
        """The first ``count`` entries the group delivered but nobody acked yet.

        Each names its ``stream`` (the partition, on a logical stream).
        """
        check_group(check_stream(stream), group)
        partitioning = await self._logical(stream)
        op = groups.pending(stream, partitioning, group, consumer, count)
        return await self._driver.run(op)

    def consume(
        self,
        stream: str,
        group: str,
        consumer: str | None = None,
        *,
        start: Position = "$",
        create_group: bool = True,
        options: ConsumerOptions | None = None,
        count: int | None = None,
        block_ms: int | None = None,
        claim_idle_ms: int | None = None,
        max_deliveries: int | None = None,
        membership: MembershipOptions | None = None,
    ) -> AsyncConsumer:
        """Join ``group`` as ``consumer`` (default ``<host>-<pid>``); iterate it.

        The group is created at ``start`` if it does not exist, unless
        ``create_group`` is False; that happens when iteration (or ``async
        with``) begins. Keyword options override ``options``. Logical streams
        and ``membership`` work as in :meth:`Client.consume`.
        """
        name, chosen = self._setup.consumer_args(
            stream,
            group,
            consumer,
            options,
            {"count": count, "block_ms": block_ms, "claim_idle_ms": claim_idle_ms,
             "max_deliveries": max_deliveries},
        )  # fmt: skip

        def plain() -> AsyncConsumer:
            prepare = None
            if create_group:
                prepare = _ops.create_group(
                    stream, group, group_start(start), mkstream=True, exist_ok=True
                )
            result = AsyncConsumer(self._driver, stream, group, name, chosen, prepare)
            self._running.add(result._core)
            return result

        chosen_consumer = self._consume_any(
            stream, group, name, chosen, start, create_group, membership, plain
        )
        self._running.add(getattr(chosen_consumer, "_core", chosen_consumer))
        return chosen_consumer

    async def run_consumer(
        self,
        stream: str,
        group: str,
        handler: Callable[[AsyncMessage], Awaitable[object] | object],
        consumer: str | None = None,
        *,
        retry_delay_ms: int = 0,
        **consume_kwargs: Unpack[ConsumeKwargs],
    ) -> None:
        """Call ``handler`` for each message until :meth:`stop`.

        A message is acked when the handler returns and nacked (retried after
        ``retry_delay_ms``) when it raises; after ``max_deliveries`` it goes to
        the dead-letter stream, as does at once a message whose fields cannot
        be decoded. Takes the keyword options of :meth:`consume`.
        """
        running = self.consume(stream, group, consumer, **consume_kwargs)
        async with running:
            async for message in running:
                try:
                    result = handler(message)
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:
                    log_handler_failure(message, exc)
                    if message.settled:
                        continue
                    if is_undecodable(message, exc):
                        await message.dead_letter(f"cannot decode: {exc}")
                    else:
                        await message.nack(retry_delay_ms, reason=describe_failure(exc))
                else:
                    if not message.settled:
                        await message.ack()

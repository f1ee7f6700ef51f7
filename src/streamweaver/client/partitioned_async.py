"""What the asyncio client does differently for a logical (partitioned) stream."""

from __future__ import annotations

from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any

from streamweaver.client import _ops
from streamweaver.client import partition_merge as pm
from streamweaver.client import partitioned as pt
from streamweaver.client._common import ClientSetup, build_message, group_start
from streamweaver.client._driver import AsyncDriver
from streamweaver.client._partitioned_membership import MembershipOptions
from streamweaver.client.ids import Position
from streamweaver.client.message import AsyncMessage
from streamweaver.client.names import check_stream
from streamweaver.client.options import ConsumerOptions
from streamweaver.client.partitioned_consumer import AsyncPartitionedConsumer
from streamweaver.client.partitioned_groups import create_groups
from streamweaver.client.partitioned_tail import LogicalTail
from streamweaver.connection import is_cluster_client
from streamweaver.partitioning import Partitioning


class PartitionedAsync:
    """Mixed into :class:`~streamweaver.client.AsyncClient`."""

    _driver: AsyncDriver
    _setup: ClientSetup
    _redis: Any
    _running: Any
    _partitions: pt.PartitionCache

    async def declare_partitions(self, stream: str, count: int) -> Partitioning:
        """Declare ``stream`` as a logical stream of ``count`` partitions."""
        check_stream(stream)
        partitioning = await self._driver.run(pt.declare(stream, count))
        self._partitions.store(stream, partitioning)
        return partitioning

    async def partitions(self, stream: str) -> Partitioning | None:
        """The partitions of a logical stream (looked up now), or None."""
        self._partitions.forget(stream)
        return await self._logical(stream)

    def refresh_partitions(self, stream: str | None = None) -> None:
        """Forget cached declarations, so new ones are seen at the next use."""
        self._partitions.forget(stream)

    async def _logical(self, stream: str) -> Partitioning | None:
        fresh, partitioning = self._partitions.get(stream)
        if not fresh:
            partitioning = await self._driver.run(pt.lookup(stream))
            self._partitions.store(stream, partitioning)
        return partitioning

    def _route(
        self,
        stream: str,
        partitioning: Partitioning | None,
        headers: Mapping[str, str] | None,
        key: pt.Key | None,
    ) -> tuple[str, Mapping[str, str] | None]:
        return pt.route(self._partitions, stream, partitioning, headers, key)

    async def _produce_batch_routed(
        self,
        stream: str,
        partitioning: Partitioning | None,
        messages: Iterable[_ops.MessageInput],
        key: pt.Key | None,
        message_keys: Sequence[pt.Key | None] | None,
    ) -> list[str]:
        listed = list(messages)
        names = partitioning.names if partitioning else (check_stream(stream),)
        if partitioning is None:
            plan = [0] * len(listed)
        else:
            plan = pt.plan_batch(
                self._partitions, partitioning, len(listed), key, message_keys
            )
        flats = pt.encode_routed(self._setup, names, listed, plan, key, message_keys)
        parts, positions = pt.spread_parts(names, plan, flats)
        ids: list[str] = [""] * len(listed)
        added = await self._driver.run(pt.produce_spread(parts))
        for where, part_ids in zip(positions, added, strict=True):
            for position, entry_id in zip(where, part_ids, strict=True):
                ids[position] = entry_id
        return ids

    def _consume_any(
        self,
        stream: str,
        group: str,
        name: str,
        options: ConsumerOptions,
        start: Position,
        create_group: bool,
        membership: MembershipOptions | None,
        plain: Callable[[], Any],
    ) -> Any:
        """The consumer for ``stream``: plain, or partitioned if it is logical.

        ``consume()`` does no IO, so a stream not yet looked up is decided when
        iteration begins.
        """
        fresh, partitioning = self._partitions.get(stream)
        if fresh and partitioning is None:
            return plain()

        def partitioned(found: Partitioning) -> AsyncPartitionedConsumer:
            prepare = None
            if create_group:
                prepare = create_groups(found, group, group_start(start))
            consumer = AsyncPartitionedConsumer(
                self._driver, found, group, name, options,
                membership or MembershipOptions(),
                multi_key=not is_cluster_client(self._redis), prepare=prepare,
            )  # fmt: skip
            self._running.add(consumer._core)
            return consumer

        if partitioning is not None:
            return partitioned(partitioning)

        async def resolve() -> Any:
            found = await self._logical(stream)
            return plain() if found is None else partitioned(found)

        return DeferredConsumer(stream, group, name, resolve)

    async def _read_any(
        self,
        stream: str,
        start: Position,
        end: Position,
        count: int | None,
        batch_size: int,
        follow: bool,
        plain: Callable[[], AsyncIterator[AsyncMessage]],
    ) -> AsyncIterator[AsyncMessage]:
        partitioning = await self._logical(stream)
        if partitioning is None:
            async for message in plain():
                yield message
            return
        if follow:
            raise pm.no_follow(stream)
        left = count
        async for _, message in self._merged(partitioning, start, end, batch_size):
            if left is not None:
                if left <= 0:
                    return
                left -= 1
            yield message

    def _merged(
        self, partitioning: Partitioning, start: Position, end: Position, batch: int
    ) -> AsyncIterator[tuple[int, AsyncMessage]]:
        read: Any = self.read  # type: ignore[attr-defined]
        return pm.amerge(
            [read(name, start, end, batch_size=batch) for name in partitioning.names]
        )

    async def _tail_logical(
        self,
        partitioning: Partitioning,
        after: str | None,
        block_ms: int,
        batch_size: int,
        stop: Any,
    ) -> AsyncIterator[AsyncMessage]:
        multi_key = not is_cluster_client(self._redis)
        tail = LogicalTail(
            partitioning, after, batch_size, block_ms, multi_key=multi_key
        )
        await self._driver.run(tail.start())
        while not stop.stop_requested:
            for name, entry_id, flat in await self._driver.run(tail.next_batch()):
                yield build_message(AsyncMessage, name, entry_id, flat)
                if stop.stop_requested:
                    return


class DeferredConsumer:
    """A consumer whose kind (plain or partitioned) is decided when it starts."""

    def __init__(
        self,
        stream: str,
        group: str,
        name: str,
        resolve: Callable[[], Awaitable[Any]],
    ) -> None:
        self.stream = stream
        self.group = group
        self.name = name
        self._resolve = resolve
        self._inner: Any = None
        self._stop = False

    @property
    def stop_requested(self) -> bool:
        return self._stop

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:
        self._stop = value
        if self._inner is not None:
            self._inner.stop()

    async def _ready(self) -> Any:
        if self._inner is None:
            self._inner = await self._resolve()
            if self._stop:
                self._inner.stop()
        await self._inner._ready()
        return self._inner

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        inner = await self._ready()
        async for message in inner:
            yield message

    async def __aenter__(self) -> DeferredConsumer:
        await self._ready()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def stop(self) -> None:
        """Hand out no more messages; the loop ends within ``block_ms``."""
        self.stop_requested = True

    async def flush(self) -> None:
        if self._inner is not None:
            await self._inner.flush()

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()

    @property
    def partitions(self) -> tuple[str, ...]:
        return getattr(self._inner, "partitions", ())

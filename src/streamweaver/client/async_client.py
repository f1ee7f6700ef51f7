"""The asyncio StreamWeaver client."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any, Unpack

from streamweaver.client import _ops
from streamweaver.client import partitioned as _partitioned
from streamweaver.client import partitioned_groups as groups
from streamweaver.client import replay as _replay
from streamweaver.client._common import (
    ClientSetup,
    ConsumeKwargs,
    build_message,
    describe_failure,
    group_start,
    is_undecodable,
    log_handler_failure,
    tail_after,
)
from streamweaver.client._ops import MessageInput
from streamweaver.client._partitioned_membership import MembershipOptions
from streamweaver.client._protocol import PendingEntry
from streamweaver.client._setup import Target
from streamweaver.client.async_consumer import AsyncConsumer
from streamweaver.client.codec import MAX_MESSAGE_BYTES
from streamweaver.client.ids import Position
from streamweaver.client.message import AsyncMessage
from streamweaver.client.names import check_group, check_stream
from streamweaver.client.options import ConsumerOptions
from streamweaver.client.partitioned_async import PartitionedAsync
from streamweaver.client.shards import aclose_driver, async_driver
from streamweaver.config import Config, RedisConfig, StorageConfig
from streamweaver.connection import connect_async
from streamweaver.storage.base import Store


class _Stop:
    stop_requested = False


class AsyncClient(PartitionedAsync):
    """Produce to and consume from Redis streams with asyncio.

    Built like :class:`~streamweaver.client.Client`; use ``async with`` or
    ``await client.aclose()``.
    """

    def __init__(
        self,
        target: Target = None,
        *,
        host: str | None = None,
        port: int | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        archive: StorageConfig | Store | None = None,
    ) -> None:
        self._setup = ClientSetup(target, host, port, max_message_bytes)
        self._tiers = _replay.Tiers(self._setup.config, archive)
        self._redis = connect_async(self._setup.config)
        self._driver = async_driver(
            self._redis, self._setup.config, self._setup.address
        )
        self._running: weakref.WeakSet[Any] = weakref.WeakSet()
        self._partitions = _partitioned.PartitionCache()

    @classmethod
    def from_config(cls, config: Config | RedisConfig, **kwargs: Any) -> AsyncClient:
        """A client for the Redis that a broker configuration points at.

        Given a whole :class:`Config`, reads also cover the archive its
        ``storage`` section names (``archive=None`` turns that off).
        """
        if isinstance(config, Config):
            kwargs.setdefault("archive", config.storage)
        return cls(config, **kwargs)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> AsyncClient:
        """A client for ``redis://[user:password@]host:port/db`` (or rediss://)."""
        return cls(url, **kwargs)

    @property
    def address(self) -> str:
        """Where Redis is, as ``host:port``."""
        return self._setup.address

    @property
    def max_message_bytes(self) -> int:
        return self._setup.max_message_bytes

    async def aclose(self) -> None:
        """Stop every consumer and tail of this client and close its connections."""
        self.stop()
        await self._tiers.aclose()
        await aclose_driver(self._driver)
        await self._redis.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def ping(self) -> None:
        """Check that Redis answers; raise ConnectionFailedError if not."""
        await self._driver.run(_ops.ping())

    # -- producing ---------------------------------------------------------

    async def produce(
        self,
        stream: str,
        fields: MessageInput,
        *,
        headers: Mapping[str, str] | None = None,
        key: str | bytes | None = None,
    ) -> str:
        """Append one message to a stream and return its ID.

        Logical streams and ``key`` work as in :meth:`Client.produce`.
        """
        fresh, partitioning = self._partitions.get(stream)
        if not fresh:
            partitioning = await self._logical(stream)
        if partitioning is not None or key is not None:
            stream, headers = self._route(stream, partitioning, headers, key)
        message = self._setup.encode(stream, fields, headers)
        return await self._driver.run(_ops.produce(stream, message))

    async def produce_batch(
        self,
        stream: str,
        messages: Iterable[MessageInput],
        *,
        key: str | bytes | None = None,
        keys: Sequence[str | bytes | None] | None = None,
    ) -> list[str]:
        """Append many messages in one round trip; return their IDs in order.

        Every message is encoded and checked before anything is sent. The batch
        is pipelined, not a transaction: if Redis fails part way the error says
        how many messages were added. Logical streams, ``key`` and ``keys``
        work as in :meth:`Client.produce_batch`.
        """
        partitioning = await self._logical(stream)
        if partitioning is not None or key is not None or keys is not None:
            return await self._produce_batch_routed(
                stream, partitioning, messages, key, keys
            )
        encoded = self._setup.encode_batch(stream, messages)
        if not encoded:
            return []
        return await self._driver.run(_ops.produce_batch(stream, encoded))

    # -- groups ------------------------------------------------------------

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

    def stop(self) -> None:
        """Ask every running consumer and tail of this client to stop."""
        for running in list(self._running):
            running.stop_requested = True

    # -- replay ------------------------------------------------------------

    async def replay(
        self,
        stream: str,
        start: Position = "-",
        end: Position = "+",
        *,
        accept_timeout_s: float = _replay.ACCEPT_TIMEOUT_S,
        **options: Any,
    ) -> _replay.AsyncReplayJob:
        """Ask the broker to replay ``[start, end]`` of ``stream``; a job handle.

        Options as for :meth:`Client.replay`.
        """
        fields = _replay.request_fields(stream, start, end, **options)
        return await _replay.submit_async(
            self._redis, fields, accept_timeout_s=accept_timeout_s
        )

    # -- reading -----------------------------------------------------------

    def read(
        self,
        stream: str,
        start: Position = "-",
        end: Position = "+",
        *,
        count: int | None = None,
        batch_size: int = 1000,
        follow: bool = False,
    ) -> AsyncIterator[AsyncMessage]:
        """Messages from ``start`` to ``end`` (both inclusive), oldest first.

        Positions are ``-`` / ``+``, IDs or times (see :mod:`.ids`); ``count``
        caps the number of messages. With an archive (see :meth:`from_config`)
        the archived past comes first, then Redis, with no gap or duplicate;
        ``follow`` goes on with new messages as they arrive (end ``+`` only).
        A logical stream's partitions are merged by ID (no ``follow``).
        """
        fresh, partitioning = self._partitions.get(stream)
        if not fresh or partitioning is not None:
            # Looked up when iteration begins; then this method runs again.
            return self._read_any(
                check_stream(stream), start, end, count, batch_size, follow,
                lambda: self.read(
                    stream, start, end, count=count, batch_size=batch_size,
                    follow=follow,
                ),
            )  # fmt: skip
        if self._tiers.has_archive or follow:
            return self._tiers.read_async(
                stream, start, end, count=count, batch_size=batch_size, follow=follow
            )
        cursor = self._setup.range_cursor(stream, start, end, count, batch_size)
        return self._read_redis(cursor)

    async def _read_redis(
        self, cursor: _ops.RangeCursor
    ) -> AsyncIterator[AsyncMessage]:
        # The one source of read(); an archive-aware source goes in front of it.
        while not cursor.done:
            for entry_id, flat in await self._driver.run(cursor.next_page()):
                yield build_message(AsyncMessage, cursor.stream, entry_id, flat)

    def tail(
        self,
        stream: str,
        start: Position = "$",
        *,
        block_ms: int = 1000,
        batch_size: int = 100,
    ) -> AsyncIterator[AsyncMessage]:
        """Follow a stream from ``start`` until stopped.

        ``$`` (the default) means messages added after iteration begins.
        Logical streams work as in :meth:`Client.tail`.
        """
        check_stream(stream)
        after = tail_after(start)
        stop = _Stop()
        self._running.add(stop)
        return self._tail(stream, after, block_ms, batch_size, stop)

    async def _tail(
        self,
        stream: str,
        after: str | None,
        block_ms: int,
        batch_size: int,
        stop: _Stop,
    ) -> AsyncIterator[AsyncMessage]:
        partitioning = await self._logical(stream)
        if partitioning is not None:
            tail = self._tail_logical(partitioning, after, block_ms, batch_size, stop)
            async for message in tail:
                yield message
            return
        if after is None:
            after = await self._driver.run(_ops.last_entry_id(stream))
        while not stop.stop_requested:
            page = await self._driver.run(
                _ops.read_after(stream, after, batch_size, block_ms)
            )
            for entry_id, flat in page:
                after = entry_id
                yield build_message(AsyncMessage, stream, entry_id, flat)
                if stop.stop_requested:
                    return

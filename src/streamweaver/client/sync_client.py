"""The synchronous StreamWeaver client."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from streamweaver.client.codec import MAX_MESSAGE_BYTES
from streamweaver.client.ids import Position
from streamweaver.client.message import Message
from streamweaver.client.names import check_group, check_stream
from streamweaver.client.options import ConsumerOptions
from streamweaver.client.partitioned_sync import PartitionedSync
from streamweaver.client.shards import close_driver, sync_driver
from streamweaver.client.sync_consumer import Consumer
from streamweaver.config import Config, RedisConfig, StorageConfig
from streamweaver.connection import connect
from streamweaver.storage.base import Store


class _Stop:
    stop_requested = False


class Client(PartitionedSync):
    """Produce to and consume from Redis streams (synchronous, thread-safe).

    ``Client("redis://localhost:6379")``, ``Client(host="h", port=6380)`` or
    ``Client.from_config(config)``; use it as a context manager or call
    :meth:`close`.
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
        self._redis = connect(self._setup.config)
        self._driver = sync_driver(self._redis, self._setup.config, self._setup.address)
        self._running: weakref.WeakSet[Any] = weakref.WeakSet()
        self._partitions = _partitioned.PartitionCache()

    @classmethod
    def from_config(cls, config: Config | RedisConfig, **kwargs: Any) -> Client:
        """A client for the Redis that a broker configuration points at.

        Given a whole :class:`Config`, reads also cover the archive its
        ``storage`` section names (``archive=None`` turns that off).
        """
        if isinstance(config, Config):
            kwargs.setdefault("archive", config.storage)
        return cls(config, **kwargs)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Client:
        """A client for ``redis://[user:password@]host:port/db`` (or rediss://)."""
        return cls(url, **kwargs)

    @property
    def address(self) -> str:
        """Where Redis is, as ``host:port``."""
        return self._setup.address

    @property
    def max_message_bytes(self) -> int:
        return self._setup.max_message_bytes

    def close(self) -> None:
        """Stop every consumer and tail of this client and close its connections."""
        self.stop()
        self._tiers.close()
        close_driver(self._driver)
        self._redis.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def ping(self) -> None:
        """Check that Redis answers; raise ConnectionFailedError if not."""
        self._driver.run(_ops.ping())

    # -- producing ---------------------------------------------------------

    def produce(
        self,
        stream: str,
        fields: MessageInput,
        *,
        headers: Mapping[str, str] | None = None,
        key: str | bytes | None = None,
    ) -> str:
        """Append one message to a stream and return its ID.

        On a logical stream (see :meth:`declare_partitions`) the message goes to
        the partition of ``key``, or to the next partition in turn without one.
        A key is stored in the ``sw:key`` header.
        """
        partitioning = self._logical(stream)
        if partitioning is not None or key is not None:
            stream, headers = self._route(stream, partitioning, headers, key)
        message = self._setup.encode(stream, fields, headers)
        return self._driver.run(_ops.produce(stream, message))

    def produce_batch(
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
        how many messages were added. On a logical stream messages are routed
        by ``key`` (one for all) or ``keys`` (one per message), else in turn,
        with one round trip per partition.
        """
        partitioning = self._logical(stream)
        if partitioning is not None or key is not None or keys is not None:
            return self._produce_batch_routed(stream, partitioning, messages, key, keys)
        encoded = self._setup.encode_batch(stream, messages)
        if not encoded:
            return []
        return self._driver.run(_ops.produce_batch(stream, encoded))

    # -- groups ------------------------------------------------------------

    def create_group(
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
        ID or a time. Return False if it existed and ``exist_ok`` is set. On a
        logical stream the group is created on every partition (``$`` is each
        partition's end); partitions that have it already keep their position,
        the missing ones are added and True returned. It counts as existing
        (False, or GroupExistsError) only if every partition has it.
        """
        check_group(check_stream(stream), group)
        op = groups.create_group(
            stream, self._logical(stream), group, group_start(start),
            mkstream=mkstream, exist_ok=exist_ok,
        )  # fmt: skip
        return self._driver.run(op)

    def delete_group(self, stream: str, group: str) -> bool:
        """Delete a consumer group; return False if it did not exist.

        On a logical stream: on every partition (True if any had it), and the
        group's membership record.
        """
        check_group(check_stream(stream), group)
        op = groups.delete_group(stream, self._logical(stream), group)
        return self._driver.run(op)

    def pending(
        self, stream: str, group: str, *, consumer: str | None = None, count: int = 100
    ) -> list[PendingEntry]:
        """The first ``count`` entries the group delivered but nobody acked yet.

        Each entry names its ``stream``; on a logical stream that is the
        partition, and the entries of all partitions are merged by ID.
        """
        check_group(check_stream(stream), group)
        op = groups.pending(stream, self._logical(stream), group, consumer, count)
        return self._driver.run(op)

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
    ) -> Consumer:
        """Join ``group`` as ``consumer`` (default ``<host>-<pid>``); iterate it.

        The group is created at ``start`` if it does not exist, unless
        ``create_group`` is False. Keyword options override ``options``. On a
        logical stream the group's live consumers share the partitions
        (``membership`` sets how they heartbeat); see docs/protocol.md.
        """
        name, chosen = self._setup.consumer_args(
            stream,
            group,
            consumer,
            options,
            {"count": count, "block_ms": block_ms, "claim_idle_ms": claim_idle_ms,
             "max_deliveries": max_deliveries},
        )  # fmt: skip
        partitioning = self._logical(stream)
        if partitioning is not None:
            return self._consume_logical(  # type: ignore[return-value]
                partitioning, group, name, chosen, start, create_group, membership
            )
        if create_group:
            self.create_group(stream, group, start, exist_ok=True)
        result = Consumer(self._driver, stream, group, name, chosen)
        self._running.add(result._core)
        return result

    def run_consumer(
        self,
        stream: str,
        group: str,
        handler: Callable[[Message], object],
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
        with self.consume(stream, group, consumer, **consume_kwargs) as running:
            for message in running:
                try:
                    handler(message)
                except Exception as exc:
                    log_handler_failure(message, exc)
                    if message.settled:
                        continue
                    if is_undecodable(message, exc):
                        message.dead_letter(f"cannot decode: {exc}")
                    else:
                        message.nack(retry_delay_ms, reason=describe_failure(exc))
                else:
                    if not message.settled:
                        message.ack()

    def stop(self) -> None:
        """Ask every running consumer and tail of this client to stop."""
        for running in list(self._running):
            running.stop_requested = True

    # -- replay ------------------------------------------------------------

    def replay(
        self,
        stream: str,
        start: Position = "-",
        end: Position = "+",
        *,
        accept_timeout_s: float = _replay.ACCEPT_TIMEOUT_S,
        **options: Any,
    ) -> _replay.ReplayJob:
        """Ask the broker to replay ``[start, end]`` of ``stream``; a job handle.

        Options: ``target``, ``mode`` (``preserve`` or ``append``), ``pace``,
        ``rate``, ``batch_size``, ``target_ttl``, ``job_id``. Returns once a
        broker accepted the job; a refused request raises ReplayRejectedError.
        A logical stream's partitions are replayed merged by ID, in ``append``
        mode (its default there).
        """
        fields = _replay.request_fields(stream, start, end, **options)
        return _replay.submit(self._redis, fields, accept_timeout_s=accept_timeout_s)

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
    ) -> Iterator[Message]:
        """Messages from ``start`` to ``end`` (both inclusive), oldest first.

        Positions are ``-`` / ``+``, IDs or times (see :mod:`.ids`); ``count``
        caps the number of messages. With an archive (see :meth:`from_config`)
        the archived past comes first, then Redis, with no gap or duplicate;
        ``follow`` goes on with new messages as they arrive (end ``+`` only).
        A logical stream's partitions are merged by ID (no ``follow``).
        """
        partitioning = self._logical(stream)
        if partitioning is not None:
            return self._read_logical(
                partitioning, start, end, count, batch_size, follow
            )
        if self._tiers.has_archive or follow:
            return self._tiers.read(
                stream, start, end, count=count, batch_size=batch_size, follow=follow
            )
        cursor = self._setup.range_cursor(stream, start, end, count, batch_size)
        return self._read_redis(cursor)

    def _read_redis(self, cursor: _ops.RangeCursor) -> Iterator[Message]:
        # The one source of read(); an archive-aware source goes in front of it.
        while not cursor.done:
            for entry_id, flat in self._driver.run(cursor.next_page()):
                yield build_message(Message, cursor.stream, entry_id, flat)

    def tail(
        self,
        stream: str,
        start: Position = "$",
        *,
        block_ms: int = 1000,
        batch_size: int = 100,
    ) -> Iterator[Message]:
        """Follow a stream from ``start`` until stopped.

        ``$`` (the default) means messages added after this call returns. A
        logical stream's partitions are followed together: each batch is merged
        by ID, each message's ``stream`` is its partition; order holds within a
        partition, across partitions only within a batch (see docs/protocol.md).
        """
        check_stream(stream)
        after = tail_after(start)
        stop = _Stop()
        self._running.add(stop)
        partitioning = self._logical(stream)
        if partitioning is not None:
            return self._tail_logical(partitioning, after, block_ms, batch_size, stop)
        if after is None:
            after = self._driver.run(_ops.last_entry_id(stream))
        return self._tail(stream, after, block_ms, batch_size, stop)

    def _tail(
        self, stream: str, after: str, block_ms: int, batch_size: int, stop: _Stop
    ) -> Iterator[Message]:
        while not stop.stop_requested:
            page = self._driver.run(
                _ops.read_after(stream, after, batch_size, block_ms)
            )
            for entry_id, flat in page:
                after = entry_id
                yield build_message(Message, stream, entry_id, flat)
                if stop.stop_requested:
                    return

"""The synchronous StreamWeaver client."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from streamweaver.client import _ops
from streamweaver.client import partitioned as _partitioned
from streamweaver.client import replay as _replay
from streamweaver.client._common import ClientSetup, build_message, tail_after
from streamweaver.client._ops import MessageInput
from streamweaver.client._setup import Target
from streamweaver.client.codec import MAX_MESSAGE_BYTES
from streamweaver.client.groups_sync import GroupsSync
from streamweaver.client.ids import Position
from streamweaver.client.message import Message
from streamweaver.client.names import check_stream
from streamweaver.client.partitioned_sync import PartitionedSync
from streamweaver.client.shards import close_driver, sync_driver
from streamweaver.config import Config, RedisConfig, StorageConfig
from streamweaver.connection import connect
from streamweaver.storage.base import Store


class _Stop:
    stop_requested = False


class Client(GroupsSync, PartitionedSync):
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

    # -- stopping (consumer groups are in GroupsSync) ----------------------

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

"""What the synchronous client does differently for a logical (partitioned) stream."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from streamweaver.client import _ops
from streamweaver.client import partition_merge as pm
from streamweaver.client import partitioned as pt
from streamweaver.client._common import ClientSetup, build_message, group_start
from streamweaver.client._driver import SyncDriver
from streamweaver.client._partitioned_membership import MembershipOptions
from streamweaver.client.ids import Position
from streamweaver.client.message import Message
from streamweaver.client.names import check_stream
from streamweaver.client.options import ConsumerOptions
from streamweaver.client.partitioned_consumer import PartitionedConsumer
from streamweaver.client.partitioned_groups import create_groups
from streamweaver.client.partitioned_tail import LogicalTail
from streamweaver.connection import is_cluster_client
from streamweaver.partitioning import Partitioning


class PartitionedSync:
    """Mixed into :class:`~streamweaver.client.Client`."""

    _driver: SyncDriver
    _setup: ClientSetup
    _redis: Any
    _running: Any
    _partitions: pt.PartitionCache

    def declare_partitions(self, stream: str, count: int) -> Partitioning:
        """Declare ``stream`` as a logical stream of ``count`` partitions.

        Repeating the same declaration is harmless; changing the count is refused.
        """
        check_stream(stream)
        partitioning = self._driver.run(pt.declare(stream, count))
        self._partitions.store(stream, partitioning)
        return partitioning

    def partitions(self, stream: str) -> Partitioning | None:
        """The partitions of a logical stream (looked up now), or None."""
        self._partitions.forget(stream)
        return self._logical(stream)

    def refresh_partitions(self, stream: str | None = None) -> None:
        """Forget cached declarations, so new ones are seen at the next use."""
        self._partitions.forget(stream)

    def _logical(self, stream: str) -> Partitioning | None:
        fresh, partitioning = self._partitions.get(stream)
        if not fresh:
            partitioning = self._driver.run(pt.lookup(stream))
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

    def _produce_batch_routed(
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
        added = self._driver.run(pt.produce_spread(parts))
        for where, part_ids in zip(positions, added, strict=True):
            for position, entry_id in zip(where, part_ids, strict=True):
                ids[position] = entry_id
        return ids

    def _consume_logical(
        self,
        partitioning: Partitioning,
        group: str,
        name: str,
        options: ConsumerOptions,
        start: Position,
        create_group: bool,
        membership: MembershipOptions | None,
    ) -> PartitionedConsumer:
        if create_group:
            self._driver.run(create_groups(partitioning, group, group_start(start)))
        consumer = PartitionedConsumer(
            self._driver,
            partitioning,
            group,
            name,
            options,
            membership or MembershipOptions(),
            multi_key=not is_cluster_client(self._redis),
        )
        self._running.add(consumer._core)
        return consumer

    def _read_logical(
        self,
        partitioning: Partitioning,
        start: Position,
        end: Position,
        count: int | None,
        batch_size: int,
        follow: bool,
    ) -> Iterator[Message]:
        if follow:
            raise pm.no_follow(partitioning.stream)
        merged = self._merged(partitioning, start, end, batch_size)
        messages = (message for _, message in merged)
        return messages if count is None else itertools.islice(messages, count)

    def _merged(
        self, partitioning: Partitioning, start: Position, end: Position, batch: int
    ) -> Iterator[tuple[int, Message]]:
        read: Any = self.read  # type: ignore[attr-defined]
        return pm.merge(
            read(name, start, end, batch_size=batch) for name in partitioning.names
        )

    def _tail_logical(
        self,
        partitioning: Partitioning,
        after: str | None,
        block_ms: int,
        batch_size: int,
        stop: Any,
    ) -> Iterator[Message]:
        multi_key = not is_cluster_client(self._redis)
        tail = LogicalTail(
            partitioning, after, batch_size, block_ms, multi_key=multi_key
        )
        self._driver.run(tail.start())
        return self._follow(tail, stop)

    def _follow(self, tail: LogicalTail, stop: Any) -> Iterator[Message]:
        while not stop.stop_requested:
            for name, entry_id, flat in self._driver.run(tail.next_batch()):
                yield build_message(Message, name, entry_id, flat)
                if stop.stop_requested:
                    return

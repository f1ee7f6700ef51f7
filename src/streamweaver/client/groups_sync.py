"""Consumer groups of the synchronous client: create, inspect and consume them.

A mixin of :class:`~streamweaver.client.Client`, kept apart so the facade stays
small; logical streams are handed to :class:`.PartitionedSync`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Unpack

from streamweaver.client import partitioned_groups as groups
from streamweaver.client._common import (
    ClientSetup,
    ConsumeKwargs,
    describe_failure,
    group_start,
    is_undecodable,
    log_handler_failure,
)
from streamweaver.client._driver import SyncDriver
from streamweaver.client._partitioned_membership import MembershipOptions
from streamweaver.client._protocol import PendingEntry
from streamweaver.client.ids import Position
from streamweaver.client.message import Message
from streamweaver.client.names import check_group, check_stream
from streamweaver.client.options import ConsumerOptions
from streamweaver.client.partitioned_consumer import PartitionedConsumer
from streamweaver.client.sync_consumer import Consumer
from streamweaver.partitioning import Partitioning


class GroupsSync:
    """Mixed into :class:`~streamweaver.client.Client`."""

    _driver: SyncDriver
    _setup: ClientSetup
    _running: Any
    _logical: Callable[[str], Partitioning | None]
    _consume_logical: Callable[..., PartitionedConsumer]

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

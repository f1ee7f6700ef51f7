"""One consumer of a group over a logical stream, as a sans-IO state machine.

The sync and asyncio shells drive the same rounds of heartbeat, reclaim and
read, so both rebalance and settle the same way; membership lives in
:mod:`._partitioned_membership` and settling in :mod:`._partitioned_settling`.
See docs/protocol.md, "Partitioned streams".
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Generic, TypeVar

from streamweaver import keys
from streamweaver.client._partitioned_membership import (
    MembershipOptions,
    heartbeat_call,
    live_members,
    owned_partitions,
    partition_indices,
)
from streamweaver.client._partitioned_settling import PartitionedSettling
from streamweaver.client._protocol import (
    Batch,
    Call,
    Entry,
    Op,
    parse_autoclaim,
    parse_entries,
    parse_pending,
)
from streamweaver.client.message import BaseMessage
from streamweaver.client.options import ConsumerOptions
from streamweaver.partitioning import Partitioning

log = logging.getLogger("streamweaver.client.partitioned")

M = TypeVar("M", bound=BaseMessage)

CLUSTER_POLL_MS = 100
"""Longest blocking read of one partition in Redis Cluster while all are empty."""


class PartitionedCore(PartitionedSettling, Generic[M]):
    """What one consumer of a partitioned stream knows."""

    def __init__(
        self,
        partitioning: Partitioning,
        group: str,
        consumer: str,
        options: ConsumerOptions,
        membership: MembershipOptions,
        message_type: type[M],
        settler: object,
        *,
        multi_key: bool,
    ) -> None:
        super().__init__(partitioning.stream, group, consumer, options)
        self.partitioning = partitioning
        self.membership = membership
        self.multi_key = multi_key
        self.owned: tuple[str, ...] = ()
        self.members: tuple[str, ...] = ()
        self._members_key = keys.group_members(self.stream, group)
        self._message_type = message_type
        self._settler = settler
        self._buffer: deque[M] = deque()
        self._cursors: dict[str, str] = {}
        self._next_heartbeat_at = 0.0
        self._all_empty = False
        self._turn = 0
        self.stop_requested = False
        self.closed = False

    # -- reading -----------------------------------------------------------

    def pop_ready(self) -> M | None:
        """The next buffered message, unless stopping or a heartbeat is due."""
        if (
            self.stop_requested
            or not self._buffer
            or time.monotonic() >= self._next_heartbeat_at
        ):
            return None
        return self._buffer.popleft()

    def fetch(self) -> Op[bool]:
        """One round of IO; True when this consumer owns no partition (idle)."""
        if time.monotonic() >= self._next_heartbeat_at:
            yield from self.heartbeat()
        if self._buffer or self.stop_requested:
            return False
        if not self.owned:
            return True
        if time.monotonic() >= self._next_reclaim_at:
            yield from self._reclaim()
            if self._buffer:
                return False
        yield from self._read()
        return False

    def heartbeat(self, *, leave: bool = False) -> Op[None]:
        """Renew (or end) membership; rebalance when the assignment changed."""
        m = self.membership
        reply = yield heartbeat_call(self._members_key, self.consumer, m, leave=leave)
        self._next_heartbeat_at = time.monotonic() + m.heartbeat_ms / 1000
        if leave:
            return
        self.members = live_members(reply)
        owned = owned_partitions(self.partitioning, list(self.members), self.consumer)
        if owned != self.owned:
            yield from self._rebalance(owned)

    def _rebalance(self, owned: tuple[str, ...]) -> Op[None]:
        lost = [name for name in self.owned if name not in owned]
        gained = [name for name in owned if name not in self.owned]
        log.info(
            "Consumer %r of group %r on %r now reads %d of %d partitions "
            "(%d members; gained %s, gave up %s).",
            self.consumer,
            self.group,
            self.stream,
            len(owned),
            self.partitioning.count,
            len(self.members),
            partition_indices(self.partitioning, gained) or "none",
            partition_indices(self.partitioning, lost) or "none",
        )
        self.owned = owned
        if lost:
            yield from self.flush_acks()
            yield from self._release([m for m in self._buffer if m.stream in lost])
            self._buffer = deque(m for m in self._buffer if m.stream not in lost)
        for name in gained:
            # Reclaim first: entries a leaving consumer released come before new ones.
            self._cursors[name] = "0-0"
            self._next_reclaim_at = 0.0

    def _read(self) -> Op[None]:
        o = self.options
        block_ms = min(o.block_ms, self.membership.heartbeat_ms)
        # Multi-key commands must stay in one cluster slot: there each partition
        # gets a non-blocking read, and while all are empty one partition in turn
        # gets a short blocking one.
        if self.multi_key:
            streams = self.owned
            waits: tuple[Any, ...] = ("BLOCK", block_ms)
        elif self._all_empty:
            streams = (self.owned[self._turn % len(self.owned)],)
            self._turn += 1
            waits = ("BLOCK", min(block_ms, CLUSTER_POLL_MS))
        else:
            streams, waits = self.owned, ()
        reads = self._read_calls(streams, waits)
        acks = self._take_acks()
        try:
            replies = yield Batch((*self._ack_calls(acks), *reads))
        except BaseException:
            self._put_back(acks)
            raise
        self._check(replies)
        found = 0
        for reply in replies[len(acks) :]:
            for name, entries in _stream_entries(reply):
                self._add(name, entries, 1)
                found += len(entries)
        self._all_empty = not found and not self.multi_key

    def _read_calls(self, streams: tuple[str, ...], waits: tuple) -> list[Call]:
        o = self.options
        head = ("XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", o.count)
        if self.multi_key:
            args = (*head, *waits, "STREAMS", *streams, *(">" for _ in streams))
            return [Call(args, streams[0], self.group)]
        return [
            Call((*head, *waits, "STREAMS", name, ">"), name, self.group)
            for name in streams
        ]

    def _add(self, stream: str, entries: list[Entry], count: int) -> None:
        cls, settler = self._message_type, self._settler
        group, consumer = self.group, self.consumer
        self._buffer.extend(
            cls(stream, entry_id, flat, count, group, consumer, settler)
            for entry_id, flat in entries
        )

    def _reclaim(self) -> Op[None]:
        o = self.options
        calls = tuple(
            Call(("XAUTOCLAIM", name, self.group, self.consumer, o.claim_idle_ms,
                  self._cursors.get(name, "0-0"), "COUNT", o.count), name, self.group)
            for name in self.owned
        )  # fmt: skip
        replies = yield Batch(calls)
        self._check(replies)
        claimed: list[tuple[str, str, list[bytes]]] = []
        more = False
        for name, reply in zip(self.owned, replies, strict=True):
            cursor, entries, deleted = parse_autoclaim(reply)
            self._cursors[name] = cursor
            more = more or (cursor != "0-0" and bool(entries))
            claimed.extend((name, entry_id, flat) for entry_id, flat in entries)
            if deleted:
                log.warning(
                    "Dropped %d pending entries of %r from group %r: they were "
                    "deleted before anyone acknowledged them.",
                    len(deleted),
                    name,
                    self.group,
                )
        self._next_reclaim_at = time.monotonic() + (
            0 if more else o.claim_interval_ms / 1000
        )
        if claimed:
            yield from self._take_claimed(claimed)

    def _take_claimed(self, claimed: list[tuple[str, str, list[bytes]]]) -> Op[None]:
        o = self.options
        counts = yield Batch(
            tuple(
                Call(("XPENDING", name, self.group, i, i, 1, self.consumer), name)
                for name, i, _ in claimed
            )
        )
        for (name, entry_id, flat), rows in zip(claimed, counts, strict=True):
            pending = [] if isinstance(rows, Exception) else parse_pending(rows)
            if not pending:
                continue  # acknowledged or claimed by another consumer meanwhile
            count = pending[0].deliveries
            if o.max_deliveries is not None and count > o.max_deliveries:
                reason = f"not acknowledged after {count - 1} deliveries"
                yield from self._dead_letter(name, entry_id, flat, count - 1, reason)
                continue
            log.info(
                "Reclaimed message %s of %r for consumer %r (delivery %d).",
                entry_id,
                name,
                self.consumer,
                count,
            )
            self._add(name, [(entry_id, flat)], count)

    # -- stopping ----------------------------------------------------------

    def pause(self) -> Op[None]:
        """Send the collected acks and release every message not handed out."""
        yield from self.flush_acks()
        unhandled, self._buffer = list(self._buffer), deque()
        yield from self._release(unhandled)

    def close(self) -> Op[None]:
        """Pause, leave the group's membership (others take over), stop for good."""
        if self.closed:
            return
        self.closed = True
        self.stop_requested = True
        yield from self.pause()
        yield from self.heartbeat(leave=True)
        self.owned = ()


def _stream_entries(reply: Any) -> list[tuple[str, list[Entry]]]:
    """(stream, entries) pairs of an XREADGROUP reply over one or more streams."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    return [(_text(name), parse_entries(entries)) for name, entries in pairs]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""A consumer group over a logical stream's partitions: the sans-IO state machine.

Every consumer heartbeats into the group's membership set (``keys.group_members``)
and computes, from the live members, which partitions it reads
(:func:`streamweaver.coordination.assignment.assign`, identical on every
member). A fetch round: heartbeat when due (and rebalance if the assignment
moved), reclaim idle entries of the owned partitions (XAUTOCLAIM per
partition), else send the collected acks and read the owned partitions. On one
server that read is a single ``XREADGROUP ... STREAMS p1 p2 ...``; in Redis
Cluster multi-key commands must stay in one slot, so it is one non-blocking
XREADGROUP per partition, pipelined per shard, then a short blocking read of
one partition in turn while all are empty. See docs/protocol.md, "Partitioned
streams".
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import redis.exceptions

from streamweaver import keys
from streamweaver.client import headers as hdr
from streamweaver.client._consumer import RELEASE_IDLE_MS
from streamweaver.client._protocol import (
    Batch,
    Call,
    Entry,
    Op,
    parse_autoclaim,
    parse_entries,
    parse_pending,
    translate_reply_error,
)
from streamweaver.client.codec import EncodedMessage
from streamweaver.client.message import BaseMessage
from streamweaver.client.options import ConsumerOptions
from streamweaver.coordination.assignment import assign
from streamweaver.errors import ConfigError, GroupExistsError
from streamweaver.partitioning import Partitioning

log = logging.getLogger("streamweaver.client.partitioned")

M = TypeVar("M", bound=BaseMessage)

CLUSTER_POLL_MS = 100
"""Longest blocking read of one partition in Redis Cluster while all are empty."""

HEARTBEAT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if ARGV[3] == 'leave' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], string.format('%.0f', now + ttl), ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now))
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], 3 * ttl)
end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
"""Join (or renew) or leave, drop expired members, return the live ones."""


@dataclass(frozen=True, slots=True)
class MembershipOptions:
    """How a consumer of a partitioned stream shows it is alive."""

    heartbeat_ms: int = 1000
    """How often it renews its membership and checks the assignment."""
    member_ttl_ms: int = 10_000
    """A consumer silent this long is dropped and its partitions move."""

    def __post_init__(self) -> None:
        for name in ("heartbeat_ms", "member_ttl_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.member_ttl_ms <= self.heartbeat_ms:
            raise ConfigError(
                f"member_ttl_ms ({self.member_ttl_ms}) must be longer than "
                f"heartbeat_ms ({self.heartbeat_ms})"
            )


def owned_partitions(
    partitioning: Partitioning, members: list[str], consumer: str
) -> tuple[str, ...]:
    """The partitions ``consumer`` reads when ``members`` are the live consumers."""
    owners = assign(partitioning.names, members)
    return tuple(name for name in partitioning.names if owners.get(name) == consumer)


def create_groups(
    partitioning: Partitioning, group: str, after: str, *, mkstream: bool = True
) -> Op[int]:
    """Create ``group`` on every partition at ``after``; how many were new.

    Partitions that have the group already keep it as it is. Every partition is
    tried before the first error (a missing partition without ``mkstream``) is
    raised, so the others have the group then.
    """
    make = ("MKSTREAM",) if mkstream else ()
    calls = tuple(
        Call(("XGROUP", "CREATE", name, group, after, *make), name, group)
        for name in partitioning.names
    )
    replies = yield Batch(calls)
    created = 0
    for call, reply in zip(calls, replies, strict=True):
        if isinstance(reply, redis.exceptions.ResponseError):
            error = translate_reply_error(reply, call.stream, group, "XGROUP")
            if not isinstance(error, GroupExistsError):
                raise error from reply
        else:
            created += 1
    return created


class PartitionedCore(Generic[M]):
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
        self.partitioning = partitioning
        self.stream = partitioning.stream
        self.group = group
        self.consumer = consumer
        self.options = options
        self.membership = membership
        self.multi_key = multi_key
        self.owned: tuple[str, ...] = ()
        self.members: tuple[str, ...] = ()
        self._members_key = keys.group_members(self.stream, group)
        self._message_type = message_type
        self._settler = settler
        self._buffer: deque[M] = deque()
        self._acks: dict[str, list[str]] = {}
        self._first_ack_at = 0.0
        self._cursors: dict[str, str] = {}
        self._next_reclaim_at = 0.0
        self._next_heartbeat_at = 0.0
        self._all_empty = False
        self._turn = 0
        self.stop_requested = False
        self.closed = False
        self.iterating = False

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
        reply = yield Call(
            ("EVAL", HEARTBEAT_SCRIPT, 1, self._members_key, self.consumer,
             m.member_ttl_ms, "leave" if leave else "join"),
            self._members_key,
        )  # fmt: skip
        self._next_heartbeat_at = time.monotonic() + m.heartbeat_ms / 1000
        if leave:
            return
        self.members = tuple(sorted(_text(member) for member in reply))
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
            _indices(self.partitioning, gained) or "none",
            _indices(self.partitioning, lost) or "none",
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

    def _check(self, replies: list[Any]) -> None:
        for reply in replies:
            if isinstance(reply, redis.exceptions.ResponseError):
                raise translate_reply_error(reply, self.stream, self.group) from reply

    # -- settling ----------------------------------------------------------

    def record_ack(self, message: BaseMessage) -> bool:
        """Note an ack; tell whether the collected acks should be sent now."""
        now = time.monotonic()
        if not self._acks:
            self._first_ack_at = now
        self._acks.setdefault(message.stream, []).append(message.id)
        return (
            not self.iterating
            or sum(map(len, self._acks.values())) >= 1000
            or now - self._first_ack_at >= self.options.ack_flush_ms / 1000
        )

    def flush_acks(self) -> Op[None]:
        """Send the collected acks, one XACK per partition."""
        acks = self._take_acks()
        if not acks:
            return
        try:
            replies = yield Batch(tuple(self._ack_calls(acks)))
        except BaseException:
            self._put_back(acks)
            raise
        self._check(replies)

    def _take_acks(self) -> dict[str, list[str]]:
        acks, self._acks = self._acks, {}
        return acks

    def _put_back(self, acks: dict[str, list[str]]) -> None:
        for name, ids in acks.items():
            self._acks.setdefault(name, [])[:0] = ids

    def _ack_calls(self, acks: dict[str, list[str]]) -> list[Call]:
        return [
            Call(("XACK", name, self.group, *ids), name, self.group)
            for name, ids in acks.items()
        ]

    def nack(self, message: BaseMessage, delay_ms: int, reason: str | None) -> Op[None]:
        """Make a delivered entry claimable again, now or after ``delay_ms``."""
        o = self.options
        count = message.delivery_count
        if o.max_deliveries is not None and (count or 1) >= o.max_deliveries:
            why = reason or "negatively acknowledged"
            reason = f"{why} on delivery {count} of at most {o.max_deliveries}"
            yield from self.dead_letter(message, reason)
            return
        delay_ms = max(0, min(int(delay_ms), o.claim_idle_ms))
        idle_ms = RELEASE_IDLE_MS if delay_ms == 0 else o.claim_idle_ms - delay_ms
        yield Call(
            ("XCLAIM", message.stream, self.group, self.consumer, 0, message.id,
             "IDLE", idle_ms, "JUSTID"),
            message.stream,
            self.group,
        )  # fmt: skip
        self._next_reclaim_at = min(
            self._next_reclaim_at, time.monotonic() + delay_ms / 1000
        )

    def dead_letter(self, message: BaseMessage, reason: str) -> Op[None]:
        """Move a delivered entry to its partition's dead-letter stream now."""
        yield from self._dead_letter(
            message.stream,
            message.id,
            list(message.flat),
            message.delivery_count,
            reason,
        )

    def _dead_letter(
        self,
        name: str,
        entry_id: str,
        flat: list[bytes],
        count: int | None,
        reason: str,
    ) -> Op[None]:
        target = keys.dead_letter_stream(name)
        message = EncodedMessage(flat).with_headers({
            hdr.DLQ_REASON: reason,
            hdr.DLQ_STREAM: name,
            hdr.DLQ_ID: entry_id,
            hdr.DLQ_GROUP: self.group,
            hdr.DLQ_CONSUMER: self.consumer,
            hdr.DLQ_DELIVERIES: str(count or 0),
            hdr.DLQ_AT_MS: str(time.time_ns() // 1_000_000),
        })  # fmt: skip
        # The partition's dead letters share its hash tag, so this works in a cluster.
        yield Batch(
            (
                Call(("XADD", target, "*", *message.flat), target),
                Call(("XACK", name, self.group, entry_id), name),
            ),
            transaction=True,
        )
        log.error(
            "Moved message %s of %r to %r for group %r: %s.",
            entry_id,
            name,
            target,
            self.group,
            reason,
        )

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

    def _release(self, messages: list[M]) -> Op[None]:
        batches: dict[tuple[str, int], list[str]] = {}
        for message in messages:
            at = (message.stream, message.delivery_count or 1)
            batches.setdefault(at, []).append(message.id)
        for (name, count), entry_ids in batches.items():
            # RETRYCOUNT undoes this delivery, so releasing costs no attempt
            yield Call(
                ("XCLAIM", name, self.group, self.consumer, 0, *entry_ids,
                 "IDLE", RELEASE_IDLE_MS, "RETRYCOUNT", count - 1, "JUSTID"),
                name,
                self.group,
            )  # fmt: skip
        if messages:
            log.info(
                "Released %d unhandled messages of %r for other consumers of %r.",
                len(messages),
                self.stream,
                self.group,
            )


def _stream_entries(reply: Any) -> list[tuple[str, list[Entry]]]:
    """(stream, entries) pairs of an XREADGROUP reply over one or more streams."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    return [(_text(name), parse_entries(entries)) for name, entries in pairs]


def _indices(partitioning: Partitioning, names: list[str]) -> str:
    return ", ".join(str(partitioning.names.index(name)) for name in names)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

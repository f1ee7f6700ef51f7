"""The consumer-group state machine, shared by the sync and asyncio consumers.

One fetch cycle: send the acks collected since the last cycle (one XACK),
reclaim entries left idle by other consumers (XAUTOCLAIM, at most every
``claim_interval_ms``), dead-letter the ones delivered too often, and else read
new entries (XREADGROUP ... BLOCK). See ``docs/protocol.md`` for the
conventions (nack, release, dead letters) every client must follow.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Generic, TypeVar

import redis.exceptions

from streamweaver import keys
from streamweaver.client._dead_letters import dead_letter_move
from streamweaver.client._protocol import (
    Batch,
    Call,
    Channel,
    Entry,
    Op,
    Packed,
    Receive,
    Release,
    Send,
    parse_autoclaim,
    parse_pending,
    stream_reply_entries,
    translate_reply_error,
)
from streamweaver.client._redirects import is_redirect
from streamweaver.client._resp import pack_command, pack_ids_command
from streamweaver.client.message import BaseMessage
from streamweaver.client.options import ConsumerOptions

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseMessage)

RELEASE_IDLE_MS = 365 * 86_400_000
"""Idle time given to released and nacked entries: any consumer may reclaim them."""


Delivery = tuple[str, list[bytes], int | None]
"""An entry handed to this consumer: ID, flat field/value list, delivery count."""


class ConsumerCore(Generic[M]):
    """What one consumer knows: its buffer, unsent acks and reclaim cursor."""

    def __init__(
        self,
        stream: str,
        group: str,
        consumer: str,
        options: ConsumerOptions,
        message_type: type[M],
        settler: object,
    ) -> None:
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.options = options
        self._message_type = message_type
        self._settler = settler
        self._buffer: deque[M] = deque()
        """Messages read but not handed out yet."""
        self._acks: list[str] = []
        self._first_ack_at = 0.0
        self._ack_flush_s = options.ack_flush_ms / 1000
        self._cursor = "0-0"
        self._next_reclaim_at = 0.0
        self._channel = Channel()
        self._ahead: tuple[tuple[Any, ...], list[str]] | None = None
        """A read sent but not received: its command and the acks sent before it."""
        self.stop_requested = False
        self.closed = False
        self.iterating = False
        """Set by the shell while a loop is reading; acks outside one go out at once."""

    # -- reading ---------------------------------------------------------

    @property
    def buffer(self) -> deque[M]:
        """Messages read but not handed out; the shells pop from it directly."""
        return self._buffer

    def next_message(self) -> Op[M | None]:
        """The next message to handle, or None once stop was requested."""
        while not self.stop_requested:
            if self._buffer:
                return self._buffer.popleft()
            yield from self._fetch()
        return None

    def _fetch(self) -> Op[None]:
        if self._ahead is None and time.monotonic() >= self._next_reclaim_at:
            yield from self.flush_acks()
            yield from self._reclaim()
            if self._buffer:
                return
        if self._ahead is None:
            yield from self._send_read(block=True)
        raw_entries = yield from self._receive_read()
        self._add_raw(raw_entries)
        if raw_entries and self.options.prefetch and not self.stop_requested:
            # Without BLOCK: the answer comes at once, even if it is empty.
            yield from self._send_read(block=False)

    def _add_raw(self, raw_entries: list[Any]) -> None:
        # One comprehension for the whole batch: this runs for every message.
        cls, settler = self._message_type, self._settler
        stream, group, consumer = self.stream, self.group, self.consumer
        self._buffer.extend(
            [
                cls(stream, entry_id.decode(), flat, 1, group, consumer, settler)
                for entry_id, flat in raw_entries
                if flat is not None
            ]
        )

    def _add(self, entries: list[Entry], count: int) -> None:
        # One comprehension for the whole batch: this runs for every message.
        cls, settler = self._message_type, self._settler
        stream, group, consumer = self.stream, self.group, self.consumer
        self._buffer.extend(
            [
                cls(stream, entry_id, flat, count, group, consumer, settler)
                for entry_id, flat in entries
            ]
        )

    def _send_read(self, *, block: bool) -> Op[None]:
        """Send the collected acks and a read on this consumer's channel."""
        o = self.options
        wait = ("BLOCK", o.block_ms) if block else ()
        read = ("XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", o.count,
                *wait, "STREAMS", self.stream, ">")  # fmt: skip
        payload = pack_command(read)
        acks, self._acks = self._acks, []
        if acks:
            payload = self._pack_ack(acks) + payload
        try:
            yield Send(self._channel, payload, self.stream)
        except BaseException:
            self._acks[:0] = acks
            raise
        self._ahead = (read, acks)

    def _pack_ack(self, acks: list[str]) -> bytes:
        return pack_ids_command(("XACK", self.stream, self.group), acks)

    def _receive_read(self) -> Op[list[Any]]:
        """The raw entries of the read sent last; the acks sent with it are done."""
        assert self._ahead is not None
        (read, acks), self._ahead = self._ahead, None
        try:
            answers = yield Receive(self._channel, 2 if acks else 1, self.stream)
        except BaseException:
            self._acks[:0] = acks  # maybe not applied: XACK again is harmless
            raise
        if any(map(is_redirect, answers)):
            answers = yield from self._redirected(answers, read, acks)
        self._check(answers, "XACK" if acks else "XREADGROUP")
        return stream_reply_entries(answers[-1])

    def _redirected(
        self, answers: list[Any], read: tuple[Any, ...], acks: list[str]
    ) -> Op[list[Any]]:
        """Answers to a read on the channel that Redis Cluster redirected.

        A redirected command did not run: its acks wait for the next flush and
        the read is sent again as a call, which follows the redirection.
        """
        answers = list(answers)
        if acks and is_redirect(answers[0]):
            self._acks[:0] = acks
            answers[0] = None
        if is_redirect(answers[-1]):
            answers[-1] = yield Call(read, self.stream, self.group)
        return answers

    def _check(self, replies: list[Any], first_command: str) -> None:
        for index, reply in enumerate(replies):
            if isinstance(reply, redis.exceptions.ResponseError):
                command = first_command if index == 0 else "XREADGROUP"
                error = translate_reply_error(reply, self.stream, self.group, command)
                raise error from reply

    def _reclaim(self) -> Op[None]:
        o = self.options
        reply = yield Call(
            ("XAUTOCLAIM", self.stream, self.group, self.consumer, o.claim_idle_ms,
             self._cursor, "COUNT", o.count),
            self.stream,
            self.group,
        )  # fmt: skip
        self._cursor, entries, deleted = parse_autoclaim(reply)
        more = self._cursor != "0-0" and bool(entries)
        self._next_reclaim_at = time.monotonic() + (
            0 if more else o.claim_interval_ms / 1000
        )
        if deleted:
            log.warning(
                "Dropped %d pending entries of %r from group %r: they were deleted "
                "from the stream before anyone acknowledged them.",
                len(deleted),
                self.stream,
                self.group,
            )
        if not entries:
            return

        counts = yield Batch(
            tuple(
                Call(("XPENDING", self.stream, self.group, i, i, 1, self.consumer))
                for i, _ in entries
            )
        )
        for (entry_id, flat), rows in zip(entries, counts, strict=True):
            pending = [] if isinstance(rows, Exception) else parse_pending(rows)
            if not pending:
                continue  # acknowledged or claimed by another consumer meanwhile
            count = pending[0].deliveries
            delivery = (entry_id, flat, count)
            if o.max_deliveries is not None and count > o.max_deliveries:
                reason = f"not acknowledged after {count - 1} deliveries"
                yield from self._dead_letter(delivery, reason, deliveries=count - 1)
                continue
            log.info(
                "Reclaimed message %s of %r for consumer %r (delivery %d).",
                entry_id,
                self.stream,
                self.consumer,
                count,
            )
            self._add([(entry_id, flat)], count)

    # -- settling ----------------------------------------------------------

    def record_ack(self, entry_id: str) -> bool:
        """Note an ack; tell whether the collected acks should be sent now."""
        acks = self._acks
        acks.append(entry_id)
        if not self.iterating:
            return True
        now = time.monotonic()
        if len(acks) == 1:
            self._first_ack_at = now
            return False
        return len(acks) >= 1000 or now - self._first_ack_at >= self._ack_flush_s

    def flush_acks(self) -> Op[None]:
        """Send the collected acks in one XACK."""
        if not self._acks:
            return
        acks, self._acks = self._acks, []
        try:
            replies = yield Packed(self._pack_ack(acks), 1, self.stream)
        except BaseException:
            self._acks[:0] = acks
            raise
        self._check(replies, "XACK")

    def nack(
        self, entry_id: str, flat: list[bytes], count: int | None, delay_ms: int,
        reason: str | None,
    ) -> Op[None]:  # fmt: skip
        """Make a delivered entry claimable again, now or after ``delay_ms``."""
        o = self.options
        if o.max_deliveries is not None and (count or 1) >= o.max_deliveries:
            why = reason or "negatively acknowledged"
            reason = f"{why} on delivery {count} of at most {o.max_deliveries}"
            yield from self._dead_letter((entry_id, flat, count), reason)
            return
        delay_ms = max(0, min(int(delay_ms), o.claim_idle_ms))
        idle_ms = RELEASE_IDLE_MS if delay_ms == 0 else o.claim_idle_ms - delay_ms
        yield Call(
            ("XCLAIM", self.stream, self.group, self.consumer, 0, entry_id,
             "IDLE", idle_ms, "JUSTID"),
            self.stream,
            self.group,
        )  # fmt: skip
        self._next_reclaim_at = min(
            self._next_reclaim_at, time.monotonic() + delay_ms / 1000
        )
        log.debug("Nacked message %s of %r (%s).", entry_id, self.stream, reason)

    def dead_letter(
        self, entry_id: str, flat: list[bytes], count: int | None, reason: str
    ) -> Op[None]:
        """Move a delivered entry to the dead-letter stream now."""
        yield from self._dead_letter((entry_id, flat, count), reason)

    def _dead_letter(
        self, delivery: Delivery, reason: str, deliveries: int | None = None
    ) -> Op[None]:
        entry_id, flat, count = delivery
        move = dead_letter_move(
            self.stream,
            self.group,
            self.consumer,
            entry_id,
            flat,
            reason=reason,
            deliveries=count if deliveries is None else deliveries,
        )
        yield move
        log.error(
            "Moved message %s of %r to %r for group %r: %s.",
            entry_id,
            self.stream,
            keys.dead_letter_stream(self.stream),
            self.group,
            reason,
        )

    # -- stopping ----------------------------------------------------------

    def close(self) -> Op[None]:
        """Stop for good: pause, and refuse to read again."""
        if self.closed:
            return
        self.closed = True
        self.stop_requested = True
        yield from self.pause()

    def pause(self) -> Op[None]:
        """Send the collected acks and release every entry not yet handed out."""
        if self._ahead is not None:
            self._add_raw((yield from self._receive_read()))
        yield Release(self._channel)
        yield from self.flush_acks()
        unhandled = list(self._buffer)
        self._buffer.clear()  # cleared, not replaced: the shells hold on to it
        by_count: dict[int, list[str]] = {}
        for message in unhandled:
            by_count.setdefault(message.delivery_count or 1, []).append(message.id)
        for count, entry_ids in by_count.items():
            # RETRYCOUNT undoes this delivery, so releasing costs no attempt
            yield Call(
                ("XCLAIM", self.stream, self.group, self.consumer, 0, *entry_ids,
                 "IDLE", RELEASE_IDLE_MS, "RETRYCOUNT", count - 1, "JUSTID"),
                self.stream,
                self.group,
            )  # fmt: skip
        if unhandled:
            log.info(
                "Released %d unhandled messages of %r for other consumers of %r.",
                len(unhandled),
                self.stream,
                self.group,
            )

"""The consumer-group state machine, shared by the sync and asyncio consumers.

One fetch cycle: send the acks collected since the last cycle (one XACK),
reclaim entries left idle by other consumers (XAUTOCLAIM, at most every
``claim_interval_ms``), dead-letter the ones delivered too often, and else read
new entries (XREADGROUP ... BLOCK). See ``docs/protocol.md`` for the
conventions (nack, release, dead letters) every client must follow; settling
lives in :mod:`._consumer_settling`, as for the partitioned consumer.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Generic, TypeVar

from streamweaver.client._consumer_settling import ConsumerSettling
from streamweaver.client._protocol import (
    Batch,
    Call,
    Channel,
    Entry,
    Op,
    Receive,
    Release,
    Send,
    parse_autoclaim,
    parse_pending,
    stream_reply_entries,
)
from streamweaver.client._redirects import is_redirect
from streamweaver.client._resp import pack_command
from streamweaver.client.message import BaseMessage
from streamweaver.client.options import ConsumerOptions

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseMessage)


class ConsumerCore(ConsumerSettling, Generic[M]):
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
        super().__init__(stream, group, consumer, options)
        self._message_type = message_type
        self._settler = settler
        self._buffer: deque[M] = deque()
        """Messages read but not handed out yet."""
        self._cursor = "0-0"
        self._channel = Channel()
        self._ahead: tuple[tuple[Any, ...], list[str]] | None = None
        """A read sent but not received: its command and the acks sent before it."""
        self.stop_requested = False
        self.closed = False

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
        yield from self._release(unhandled)

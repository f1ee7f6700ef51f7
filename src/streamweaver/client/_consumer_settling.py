"""Settling messages of a single-stream consumer: acks, nacks, dead letters, releases.

Kept apart from reading, like :mod:`._partitioned_settling` for the partitioned
consumer: these are the conventions of docs/protocol.md that every client must
follow when it hands an entry back, whatever way it reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import redis.exceptions

from streamweaver import keys
from streamweaver.client._dead_letters import dead_letter_move
from streamweaver.client._protocol import Call, Op, Packed, translate_reply_error
from streamweaver.client._resp import pack_ids_command
from streamweaver.client.message import BaseMessage
from streamweaver.client.options import ConsumerOptions

# The consumer's own logger, so log filters set before the split still apply.
log = logging.getLogger("streamweaver.client._consumer")

RELEASE_IDLE_MS = 365 * 86_400_000
"""Idle time given to released and nacked entries: any consumer may reclaim them."""


Delivery = tuple[str, list[bytes], int | None]
"""An entry handed to this consumer: ID, flat field/value list, delivery count."""


class ConsumerSettling:
    """The settling half of :class:`ConsumerCore`: unsent acks and what to undo."""

    def __init__(
        self, stream: str, group: str, consumer: str, options: ConsumerOptions
    ) -> None:
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.options = options
        self._acks: list[str] = []
        self._first_ack_at = 0.0
        self._ack_flush_s = options.ack_flush_ms / 1000
        self._next_reclaim_at = 0.0
        self.iterating = False
        """Set by the shell while a loop is reading; acks outside one go out at once."""

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

    def _pack_ack(self, acks: list[str]) -> bytes:
        return pack_ids_command(("XACK", self.stream, self.group), acks)

    def _check(self, replies: list[Any], first_command: str) -> None:
        for index, reply in enumerate(replies):
            if isinstance(reply, redis.exceptions.ResponseError):
                command = first_command if index == 0 else "XREADGROUP"
                error = translate_reply_error(reply, self.stream, self.group, command)
                raise error from reply

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

    def _release(self, unhandled: Sequence[BaseMessage]) -> Op[None]:
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

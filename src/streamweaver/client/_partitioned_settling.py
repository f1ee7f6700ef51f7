"""Settling messages of a partitioned consumer: acks, nacks, dead letters, releases.

Kept apart from reading because settling follows the single-stream conventions
of docs/protocol.md unchanged, only per partition: every entry is settled on the
partition it came from, and its dead letters go next to that partition so the
move stays in one cluster slot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import redis.exceptions

from streamweaver import keys
from streamweaver.client._consumer_settling import RELEASE_IDLE_MS
from streamweaver.client._dead_letters import dead_letter_move
from streamweaver.client._protocol import Batch, Call, Op, translate_reply_error
from streamweaver.client.message import BaseMessage
from streamweaver.client.options import ConsumerOptions

log = logging.getLogger("streamweaver.client.partitioned")


class PartitionedSettling:
    """The settling half of :class:`PartitionedCore`: unsent acks and what to undo."""

    def __init__(
        self, stream: str, group: str, consumer: str, options: ConsumerOptions
    ) -> None:
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.options = options
        self._acks: dict[str, list[str]] = {}
        self._first_ack_at = 0.0
        self._next_reclaim_at = 0.0
        self.iterating = False

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

    def _check(self, replies: list[Any]) -> None:
        for reply in replies:
            if isinstance(reply, redis.exceptions.ResponseError):
                raise translate_reply_error(reply, self.stream, self.group) from reply

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
        # The partition's dead letters share its hash tag, so this works in a cluster.
        yield dead_letter_move(
            name,
            self.group,
            self.consumer,
            entry_id,
            flat,
            reason=reason,
            deliveries=count,
        )
        log.error(
            "Moved message %s of %r to %r for group %r: %s.",
            entry_id,
            name,
            keys.dead_letter_stream(name),
            self.group,
            reason,
        )

    def _release(self, messages: Sequence[BaseMessage]) -> Op[None]:
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

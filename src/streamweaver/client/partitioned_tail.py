"""Following a logical stream: every partition, merged by ID within each batch.

On one server a round is a single ``XREAD COUNT n BLOCK ms STREAMS p1 p2 ...``,
which returns as soon as any partition has news. In Redis Cluster every
partition has its own slot, so a multi-key XREAD would fail with CROSSSLOT:
there a round is one non-blocking XREAD per partition (pipelined per shard),
and after a round that found nothing, one blocking XREAD of a single partition,
in turn, for at most ``CLUSTER_POLL_MS``. An idle tail therefore waits in Redis
rather than spinning, and a message on another partition is seen within about
that time. The order across partitions is by ID per batch only: a message that
arrives late in a slow partition can follow a newer one of another partition.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions

from streamweaver.client._partitioned_core import CLUSTER_POLL_MS
from streamweaver.client._protocol import (
    Batch,
    Call,
    Entry,
    Op,
    parse_entries,
    translate_reply_error,
)
from streamweaver.client.ids import StreamId, parse_id
from streamweaver.partitioning import Partitioning

Found = tuple[str, str, list[bytes]]
"""A message a tail read: its partition, ID and flat field/value list."""


class LogicalTail:
    """Where a tail of a logical stream stands in each of its partitions."""

    def __init__(
        self,
        partitioning: Partitioning,
        after: str | None,
        batch_size: int,
        block_ms: int,
        *,
        multi_key: bool,
    ) -> None:
        self.names = partitioning.names
        self._index = {name: index for index, name in enumerate(self.names)}
        self.after = {} if after is None else dict.fromkeys(self.names, after)
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.multi_key = multi_key
        self._idle = False
        self._turn = 0

    def start(self) -> Op[None]:
        """Start after each partition's current last entry, unless told where."""
        if self.after:
            return
        calls = tuple(
            Call(("XREVRANGE", name, "+", "-", "COUNT", 1), name) for name in self.names
        )
        replies = yield Batch(calls)
        _check(calls, replies)
        for name, reply in zip(self.names, replies, strict=True):
            entries = parse_entries(reply)
            self.after[name] = entries[0][0] if entries else "0-0"

    def next_batch(self) -> Op[list[Found]]:
        """One round of reads: what arrived, by ID then partition number."""
        calls = self._calls()
        if len(calls) == 1:  # no pipeline for one command, blocking or not
            replies = [(yield calls[0])]
        else:
            replies = yield Batch(calls)
            _check(calls, replies)
        found: list[tuple[StreamId, int, Found]] = []
        for reply in replies:
            for name, entries in _stream_entries(reply):
                index = self._index[name]
                found.extend(
                    (parse_id(entry_id), index, (name, entry_id, flat))
                    for entry_id, flat in entries
                )
                if entries:
                    self.after[name] = entries[-1][0]
        self._idle = not found and not self.multi_key and not self._idle
        found.sort(key=lambda item: item[:2])
        return [item for _, _, item in found]

    def _calls(self) -> tuple[Call, ...]:
        head = ("XREAD", "COUNT", self.batch_size)
        if self.multi_key:
            after = [self.after[name] for name in self.names]
            args = (*head, "BLOCK", self.block_ms, "STREAMS", *self.names, *after)
            return (Call(args, self.names[0]),)
        if self._idle:
            name = self.names[self._turn % len(self.names)]
            self._turn += 1
            wait = ("BLOCK", min(self.block_ms, CLUSTER_POLL_MS))
            return (Call((*head, *wait, "STREAMS", name, self.after[name]), name),)
        return tuple(
            Call((*head, "STREAMS", name, self.after[name]), name)
            for name in self.names
        )


def _check(calls: tuple[Call, ...], replies: list[Any]) -> None:
    for call, reply in zip(calls, replies, strict=True):
        if isinstance(reply, redis.exceptions.ResponseError):
            command = str(call.args[0])
            raise translate_reply_error(reply, call.stream, None, command) from reply


def _stream_entries(reply: Any) -> list[tuple[str, list[Entry]]]:
    """(stream, entries) pairs of an XREAD reply over one or more streams."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    return [(_text(name), parse_entries(entries)) for name, entries in pairs]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

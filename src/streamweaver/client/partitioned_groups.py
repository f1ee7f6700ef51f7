"""Group administration on a stream that may be logical: every partition at once.

Each operation takes the stream's :class:`Partitioning` (None for a plain
stream, which gets the ordinary single-stream operation) so that the sync and
asyncio clients share one sans-IO version. See docs/protocol.md, "Partitioned
streams".
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Iterator
from typing import Any

import redis.exceptions

from streamweaver import keys
from streamweaver.client import _ops
from streamweaver.client._protocol import (
    Batch,
    Call,
    Op,
    PendingEntry,
    parse_pending,
    translate_reply_error,
)
from streamweaver.client.ids import StreamId, parse_id
from streamweaver.errors import (
    GroupExistsError,
    GroupNotFoundError,
    StreamNotFoundError,
)
from streamweaver.partitioning import Partitioning


def create_group(
    stream: str,
    partitioning: Partitioning | None,
    group: str,
    after: str,
    *,
    mkstream: bool,
    exist_ok: bool,
) -> Op[bool]:
    """Create ``group``; on a logical stream on each partition that lacks it."""
    if partitioning is None:
        op = _ops.create_group(
            stream, group, after, mkstream=mkstream, exist_ok=exist_ok
        )
        return (yield from op)
    created = yield from create_groups(partitioning, group, after, mkstream=mkstream)
    if created or exist_ok:
        return bool(created)
    raise GroupExistsError(
        f"consumer group {group!r} already exists on every partition of the "
        f"logical stream {stream!r}",
        stream=stream,
        group=group,
    )


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


def delete_group(
    stream: str, partitioning: Partitioning | None, group: str
) -> Op[bool]:
    """Destroy ``group``; on a logical stream on every partition, and its members."""
    if partitioning is None:
        return (yield from _ops.delete_group(stream, group))
    members = keys.group_members(stream, group)
    calls = tuple(
        Call(("XGROUP", "DESTROY", name, group), name, group)
        for name in partitioning.names
    )
    replies = yield Batch((*calls, Call(("DEL", members), members)))
    existed = False
    for call, reply in zip(calls, replies, strict=False):
        if isinstance(reply, redis.exceptions.ResponseError):
            error = translate_reply_error(reply, call.stream, group, "XGROUP")
            if isinstance(error, StreamNotFoundError):
                continue  # a partition nothing was written to yet has no groups
            raise error from reply
        existed = existed or bool(reply)
    if isinstance(replies[-1], redis.exceptions.ResponseError):
        raise translate_reply_error(replies[-1], members) from replies[-1]
    return existed


def pending(
    stream: str,
    partitioning: Partitioning | None,
    group: str,
    consumer: str | None,
    count: int,
) -> Op[list[PendingEntry]]:
    """The first ``count`` pending entries, each with its stream (partition)."""
    if partitioning is None:
        entries = yield from _ops.pending(stream, group, consumer, count)
        return [dataclasses.replace(entry, stream=stream) for entry in entries]
    only = (consumer,) if consumer else ()
    calls = tuple(
        Call(("XPENDING", name, group, "-", "+", count, *only), name, group)
        for name in partitioning.names
    )
    replies = yield Batch(calls)
    parts: list[Iterator[tuple[StreamId, int, PendingEntry]]] = []
    for index, (call, reply) in enumerate(zip(calls, replies, strict=True)):
        if isinstance(reply, redis.exceptions.ResponseError):
            error = translate_reply_error(reply, call.stream, group, "XPENDING")
            if isinstance(error, GroupNotFoundError):
                continue  # reported below only if no partition has the group
            raise error from reply
        parts.append(_keyed(index, call.stream, reply))
    if not parts:
        raise GroupNotFoundError(
            f"consumer group {group!r} does not exist on any partition of the "
            f"logical stream {stream!r}; create it with create_group()",
            stream=stream,
            group=group,
        )
    merged = heapq.merge(*parts, key=lambda item: item[:2])
    return [entry for _, _, entry in itertools.islice(merged, max(count, 0))]


def _keyed(
    index: int, name: str | None, reply: Any
) -> Iterator[tuple[StreamId, int, PendingEntry]]:
    for entry in parse_pending(reply):
        yield parse_id(entry.id), index, dataclasses.replace(entry, stream=name)

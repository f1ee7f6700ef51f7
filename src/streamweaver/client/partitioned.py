"""Producing to partitioned (logical) streams: the declaration cache and routing.

A client learns whether a stream is logical from its declaration in Redis
(``sw:partitions:<stream>``, see :mod:`streamweaver.partitioning`), once per
stream: a declaration found is kept for the client's life (the partition count
of a stream never changes); "not partitioned" is kept for ``refresh_s``
(30 s by default), so a stream declared while clients run is picked up by each
within that time, or at once after :meth:`PartitionCache.forget` (the clients'
``refresh_partitions()``). Declare a stream before producing to it.

A message with a key goes to partition ``crc32(key) mod N`` and carries the key
in the header ``sw:key``; one without a key goes to the next partition in
turn, starting from a random one so producers do not pile onto partition 0.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.exceptions

from streamweaver import keys
from streamweaver.client import headers as hdr
from streamweaver.client._ops import PACKED_BATCH_MAX, SEND_SLICE
from streamweaver.client._protocol import (
    Call,
    Channel,
    Op,
    Receive,
    Release,
    Send,
    translate_reply_error,
)
from streamweaver.client._redirects import xadd_again
from streamweaver.client._resp import pack_xadds
from streamweaver.errors import EncodingError, StreamError
from streamweaver.partitioning import (
    Partitioning,
    already_declared,
    partition_index,
    partition_names,
)

REFRESH_S = 30.0
"""How long a client trusts that a stream is not partitioned before asking again."""

Key = str | bytes


class PartitionCache:
    """Which streams are logical, as this client last looked them up."""

    def __init__(self, refresh_s: float = REFRESH_S) -> None:
        self.refresh_s = refresh_s
        self._known: dict[str, tuple[Partitioning | None, float]] = {}
        self._turns: dict[str, itertools.count] = {}

    def get(self, stream: str) -> tuple[bool, Partitioning | None]:
        """Whether the cached answer is fresh, and the answer."""
        found = self._known.get(stream)
        if found is None or (found[0] is None and time.monotonic() > found[1]):
            return False, None
        return True, found[0]

    def store(self, stream: str, partitioning: Partitioning | None) -> None:
        self._known[stream] = (partitioning, time.monotonic() + self.refresh_s)
        if partitioning is not None:
            for name in partitioning.names:  # a partition is never itself logical
                self._known[name] = (None, math.inf)

    def forget(self, stream: str | None = None) -> None:
        """Look ``stream`` (or every stream) up again before its next use."""
        if stream is None:
            self._known.clear()
        else:
            self._known.pop(stream, None)

    def next_turn(self, partitioning: Partitioning) -> int:
        """The partition a message without a key goes to (round-robin)."""
        turn = self._turns.get(partitioning.stream)
        if turn is None:
            start = random.randrange(partitioning.count)
            turn = self._turns[partitioning.stream] = itertools.count(start)
        return next(turn) % partitioning.count


def lookup(stream: str) -> Op[Partitioning | None]:
    """Read a stream's declaration; None if it is a plain stream."""
    key = keys.partitions(stream)
    raw = yield Call(("HGET", key, "names"), key)
    return None if raw is None else Partitioning(stream, tuple(json.loads(raw)))


def declare(stream: str, count: int) -> Op[Partitioning]:
    """Declare ``stream`` with ``count`` partitions (as ``partitioning.declare``)."""
    names = partition_names(stream, count)
    key = keys.partitions(stream)
    created = yield Call(("HSETNX", key, "names", json.dumps(names)), key)
    if created:
        yield Call(("SADD", keys.PARTITIONED, stream), keys.PARTITIONED)
        return Partitioning(stream, names)
    existing = yield from lookup(stream)
    return already_declared(existing, stream, names)


def key_text(key: Key) -> str:
    """A message key as the text stored in ``sw:key``."""
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        try:
            return key.decode()
        except UnicodeDecodeError as exc:
            raise EncodingError(
                f"a message key must be text or UTF-8 bytes, got {key!r}"
            ) from exc
    raise EncodingError(f"a message key must be str or bytes, not {type(key).__name__}")


def with_key(headers: Mapping[str, str] | None, key: Key | None) -> dict | None:
    """The headers of a message produced with ``key`` (``sw:key`` added)."""
    if key is None:
        return dict(headers) if headers else None
    return {**(headers or {}), hdr.KEY: key_text(key)}


def choose(cache: PartitionCache, partitioning: Partitioning, key: Key | None) -> int:
    """The partition number one message goes to."""
    if key is None:
        return cache.next_turn(partitioning)
    return partition_index(key_text(key).encode(), partitioning.count)


def route(
    cache: PartitionCache,
    stream: str,
    partitioning: Partitioning | None,
    headers: Mapping[str, str] | None,
    key: Key | None,
) -> tuple[str, Mapping[str, str] | None]:
    """Where one message goes, and its headers with ``sw:key`` added."""
    if partitioning is not None:
        stream = partitioning.names[choose(cache, partitioning, key)]
    return stream, with_key(headers, key)


def plan_batch(
    cache: PartitionCache,
    partitioning: Partitioning,
    count: int,
    key: Key | None,
    message_keys: Sequence[Key | None] | None,
) -> list[int]:
    """The partition of each message of a batch, in order."""
    if message_keys is None:
        return [choose(cache, partitioning, key) for _ in range(count)]
    if len(message_keys) != count:
        raise StreamError(
            f"keys has {len(message_keys)} items for {count} messages; give one "
            "key (or None) per message",
            stream=partitioning.stream,
        )
    return [choose(cache, partitioning, k) for k in message_keys]


def group_by_partition(plan: Iterable[int]) -> dict[int, list[int]]:
    """Message positions by partition, each list in the batch's order."""
    groups: dict[int, list[int]] = {}
    for position, partition in enumerate(plan):
        groups.setdefault(partition, []).append(position)
    return groups


def encode_routed(
    setup: Any,
    names: Sequence[str],
    messages: list[Any],
    plan: list[int],
    key: Key | None,
    message_keys: Sequence[Key | None] | None,
) -> list[Sequence[bytes]]:
    """Encode a routed batch, adding ``sw:key`` where a message has a key."""
    if key is None and message_keys is None:
        return setup.encode_batch(names[0], messages)
    keyed = itertools.repeat(key) if message_keys is None else message_keys
    return [
        setup.encode(names[part], message, with_key(None, k)).flat
        for message, part, k in zip(messages, plan, keyed, strict=False)
    ]


def produce_spread(
    parts: list[tuple[str, list[Sequence[bytes]]]],
) -> Op[list[list[str]]]:
    """XADD each part's messages to its partition; the IDs, part by part.

    Every part is sent on a connection of its own before any reply is read, so
    the partitions (on one server or on several shards) add them in parallel.
    """
    channels: list[Channel] = []
    results: list[list[str]] = []
    try:
        for stream, messages in parts:
            channels.append(channel := Channel())
            for start in range(0, len(messages), SEND_SLICE):
                payload = pack_xadds(stream, messages[start : start + SEND_SLICE])
                yield Send(channel, payload, stream)
        for (stream, messages), channel in zip(parts, channels, strict=True):
            replies = yield Receive(channel, len(messages), stream)
            replies = yield from xadd_again(stream, messages, replies)
            failed = [
                r for r in replies if isinstance(r, redis.exceptions.ResponseError)
            ]
            if failed:
                error = translate_reply_error(failed[0], stream, None, "XADD")
                added = sum(map(len, results)) + len(messages) - len(failed)
                error.args = (f"{error} (at least {added} messages were added)",)
                raise error from failed[0]
            results.append([reply.decode() for reply in replies])
    finally:
        for channel in channels:
            yield Release(channel)
    return results


def spread_parts(
    names: Sequence[str], plan: list[int], flats: list[Sequence[bytes]]
) -> tuple[list[tuple[str, list[Sequence[bytes]]]], list[list[int]]]:
    """A routed batch as parts of at most PACKED_BATCH_MAX messages per partition.

    Returns the parts and, for each, the batch positions of its messages.
    """
    parts: list[tuple[str, list[Sequence[bytes]]]] = []
    positions: list[list[int]] = []
    for partition, where in group_by_partition(plan).items():
        for first in range(0, len(where), PACKED_BATCH_MAX):
            chunk = where[first : first + PACKED_BATCH_MAX]
            parts.append((names[partition], [flats[p] for p in chunk]))
            positions.append(chunk)
    return parts, positions

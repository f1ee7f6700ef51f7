"""Partitioned streams: one logical stream stored as N Redis streams.

Partition ``i`` of ``orders`` is the stream ``orders:p<i>:{<tag>}``. The tag is
the first string ``<stream>:<n>`` (n = 0, 1, ...) whose hash slot falls in the
i-th of N equal slot ranges, so with slots spread evenly over the shards (as
``--cluster create`` does) the partitions land on different shards. Clients do
not need to compute names: the declaration is stored in Redis
(``keys.partitions``) and read from there. A message with a key goes to
partition ``crc32(key) mod N`` (CRC-32/IEEE of the key's UTF-8 bytes), so one
key's messages keep their order; a message without a key goes round-robin.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import redis
import redis.asyncio
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from streamweaver import keys
from streamweaver.errors import InvalidStreamNameError, StreamError

MAX_PARTITIONS = 1024


@dataclass(frozen=True)
class Partitioning:
    """A logical stream's partitions, in partition order."""

    stream: str
    names: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.names)

    def for_key(self, key: str | bytes) -> str:
        """The partition stream a message with this key goes to."""
        return self.names[partition_index(key, self.count)]


def partition_index(key: str | bytes, count: int) -> int:
    """Partition number for a message key: CRC-32 of its UTF-8 bytes, mod count."""
    data = key.encode() if isinstance(key, str) else key
    return zlib.crc32(data) % count


def partition_names(stream: str, count: int) -> tuple[str, ...]:
    """The stream names of ``count`` partitions, spread over the hash slots."""
    if not 1 <= count <= MAX_PARTITIONS:
        raise StreamError(
            f"a stream takes 1 to {MAX_PARTITIONS} partitions, not {count}",
            stream=stream,
        )
    if "{" in stream or "}" in stream:
        raise InvalidStreamNameError(
            f"a partitioned stream's name cannot contain braces: {stream!r}",
            stream=stream,
        )
    return tuple(f"{stream}:p{i}:{{{_tag(stream, i, count)}}}" for i in range(count))


def _tag(stream: str, index: int, count: int) -> str:
    low = index * REDIS_CLUSTER_HASH_SLOTS // count
    high = (index + 1) * REDIS_CLUSTER_HASH_SLOTS // count
    n = 0
    while not low <= key_slot(f"{stream}:{n}".encode()) < high:
        n += 1
    return f"{stream}:{n}"


async def declare(client: redis.asyncio.Redis, stream: str, count: int) -> Partitioning:
    """Declare ``stream`` with ``count`` partitions; repeat calls are no-ops."""
    names = partition_names(stream, count)
    created = await client.hsetnx(keys.partitions(stream), "names", json.dumps(names))
    if created:
        await client.sadd(keys.PARTITIONED, stream)
        return Partitioning(stream, names)
    return already_declared(await lookup(client, stream), stream, names)


def already_declared(
    existing: Partitioning | None, stream: str, names: tuple[str, ...]
) -> Partitioning:
    """The declaration that a repeated ``declare`` of ``names`` resolves to.

    Changing the count of a declared stream is refused: routing by key would
    silently change for every key.
    """
    if existing is not None and existing.count != len(names):
        raise StreamError(
            f"stream {stream!r} already has {existing.count} partitions; "
            f"changing it to {len(names)} is not supported",
            stream=stream,
        )
    return existing or Partitioning(stream, names)


async def lookup(client: redis.asyncio.Redis, stream: str) -> Partitioning | None:
    """The partitions of a declared logical stream, or None if it is not one."""
    raw = await client.hget(keys.partitions(stream), "names")
    return None if raw is None else Partitioning(stream, tuple(json.loads(raw)))


def lookup_sync(client: redis.Redis, stream: str) -> Partitioning | None:
    """Synchronous :func:`lookup`."""
    raw = client.hget(keys.partitions(stream), "names")
    return None if raw is None else Partitioning(stream, tuple(json.loads(raw)))


async def logical_streams(client: redis.asyncio.Redis) -> dict[str, Partitioning]:
    """Every declared logical stream."""
    names = sorted(m.decode() for m in await client.smembers(keys.PARTITIONED))
    found = {}
    for name in names:
        partitioning = await lookup(client, name)
        if partitioning is not None:
            found[name] = partitioning
    return found

"""Which broker instances are live and which streams each owns, read from Redis.

Any process can ask, a broker or the CLI: membership is the heartbeat set
``keys.INSTANCES`` and ownership the per-stream lease hashes, both compared
with Redis server time, so the answer does not depend on which instance gives
it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio

from streamweaver import keys

_CHUNK = 1000


@dataclass(slots=True)
class InstanceOwnership:
    """One broker instance: its heartbeat and the streams it holds leases on."""

    instance_id: str
    live: bool
    """False when its heartbeat ran out but a lease of it has not yet."""
    heartbeat_expires_ms: int | None
    streams: list[str] = field(default_factory=list)


@dataclass(slots=True)
class OwnershipReport:
    """Every instance with what it owns, and the streams no live lease covers."""

    now_ms: int
    instances: list[InstanceOwnership]
    unowned: list[str]


async def read_ownership(
    client: redis.asyncio.Redis, streams: Sequence[str]
) -> OwnershipReport:
    """The live instances and the owner of each of ``streams``, as Redis has them."""
    seconds, micros = await client.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    members = await client.zrangebyscore(
        keys.INSTANCES, f"({now_ms}", "+inf", withscores=True
    )
    instances = {
        _text(member): InstanceOwnership(_text(member), True, int(score))
        for member, score in members
    }
    unowned = []
    for stream, owner in zip(
        streams, await _owners(client, streams, now_ms), strict=True
    ):
        if owner is None:
            unowned.append(stream)
            continue
        entry = instances.setdefault(owner, InstanceOwnership(owner, False, None))
        entry.streams.append(stream)
    return OwnershipReport(
        now_ms=now_ms,
        instances=[instances[name] for name in sorted(instances)],
        unowned=unowned,
    )


async def _owners(
    client: redis.asyncio.Redis, streams: Sequence[str], now_ms: int
) -> list[str | None]:
    owners: list[str | None] = []
    for start in range(0, len(streams), _CHUNK):
        pipe = client.pipeline(transaction=False)
        for stream in streams[start : start + _CHUNK]:
            pipe.hmget(_key(keys.stream_lease(stream)), "owner", "expires_ms")
        for owner, expires_ms in await pipe.execute():
            live = owner and expires_ms is not None and int(expires_ms) > now_ms
            owners.append(_text(owner) if live else None)
    return owners


def _key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value

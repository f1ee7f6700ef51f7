"""Per-stream leases with fencing epochs, held in Redis.

A lease is a hash at ``keys.stream_lease(stream)`` with the owner, an epoch
and an expiry in Redis server time (so clocks of broker hosts do not matter).
The hash never expires itself: the epoch must only ever grow, or an old holder
could outrank a new one. Taking a lease that was free, expired or held under
an old epoch increments the epoch; the archive index and the trimmer refuse
work carrying an epoch lower than the lease's (fencing), so an instance that
paused past its expiry can never write a conflicting segment or trim.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio

from streamweaver import keys
from streamweaver.connection import run_script_many

# Returns the epoch held after the call, or -1 when another owner holds it.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = redis.call('HMGET', KEYS[1], 'owner', 'epoch', 'expires_ms')
local owner, epoch = lease[1], tonumber(lease[2] or '0')
local live = tonumber(lease[3] or '0') > now
if live and owner == ARGV[1] then
  redis.call('HSET', KEYS[1], 'expires_ms', now + tonumber(ARGV[2]))
  return epoch
end
if live and owner and owner ~= '' then
  return -1
end
epoch = epoch + 1
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', epoch,
           'expires_ms', now + tonumber(ARGV[2]))
return epoch
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'owner', '', 'expires_ms', 0)
  return 1
end
return 0
"""

# Registers this instance until now + ttl, forgets expired ones, lists the live.
_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[2] ~= '0' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


class Leases:
    """Acquire, renew and release stream leases for one broker instance."""

    def __init__(self, client: redis.asyncio.Redis, owner: str, ttl_s: float) -> None:
        self.owner = owner
        self.ttl_ms = int(ttl_s * 1000)
        self._client = client
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._heartbeat = client.register_script(_HEARTBEAT)

    async def acquire(self, streams: Sequence[str]) -> dict[str, int]:
        """Take or renew the leases of ``streams``; returns those now held, by epoch."""
        held, failed = await self.acquire_each(streams)
        if failed:
            raise next(iter(failed.values()))
        return held

    async def acquire_each(
        self, streams: Sequence[str]
    ) -> tuple[dict[str, int], dict[str, Exception]]:
        """Like :meth:`acquire`, but a stream whose script failed is returned apart.

        In Redis Cluster one stream's lease can be unreachable for a moment (its
        slot is moving) while the others are fine.
        """
        calls = [([keys.stream_lease(s)], [self.owner, self.ttl_ms]) for s in streams]
        epochs = await run_script_many(
            self._client, self._acquire, calls, return_exceptions=True
        )
        held: dict[str, int] = {}
        failed: dict[str, Exception] = {}
        for stream, epoch in zip(streams, epochs, strict=True):
            if isinstance(epoch, Exception):
                failed[stream] = epoch
            elif int(epoch) > 0:
                held[stream] = int(epoch)
        return held, failed

    async def release(self, streams: Sequence[str]) -> None:
        """Give leases up at once, so the next owner need not wait for expiry."""
        calls = [([keys.stream_lease(s)], [self.owner]) for s in streams]
        await run_script_many(self._client, self._release, calls)

    async def heartbeat(self, ttl_s: float) -> list[str]:
        """Announce this instance as live for ``ttl_s``; returns every live instance."""
        live = await self._heartbeat(
            keys=[keys.INSTANCES], args=[self.owner, int(ttl_s * 1000)]
        )
        return sorted(m.decode() if isinstance(m, bytes) else m for m in live)

    async def leave(self) -> None:
        """Remove this instance from the live set (on a clean shutdown)."""
        await self._heartbeat(keys=[keys.INSTANCES], args=[self.owner, 0])

"""Watching the broker's dependencies, so an outage is logged once and recovery once."""

from __future__ import annotations

import asyncio

import redis.exceptions

from streamweaver.broker.context import BrokerContext
from streamweaver.broker.supervisor import pause
from streamweaver.connection import address_of, describe_reason
from streamweaver.errors import StorageError

REDIS = "Redis"
STORE = "the archive store"


async def watch_redis(ctx: BrokerContext, interval_s: float = 1.0) -> None:
    """PING Redis forever, marking it down and up in ``ctx.outages``."""
    address = address_of(ctx.config.redis)
    while True:
        try:
            await asyncio.wait_for(ctx.redis.ping(), timeout=max(interval_s, 2.0))
            ctx.outages.recovered(REDIS)
        except (redis.exceptions.RedisError, OSError, TimeoutError) as exc:
            ctx.outages.failed(REDIS, f"cannot reach Redis at {address}: {_why(exc)}")
        await pause(interval_s)


async def watch_store(ctx: BrokerContext, interval_s: float = 5.0) -> None:
    """Check the archive store forever, marking it down and up in ``ctx.outages``."""
    if ctx.store is None:
        return
    while True:
        try:
            await ctx.store.check()
            ctx.outages.recovered(STORE)
        except StorageError as exc:
            ctx.outages.failed(STORE, str(exc))
        await pause(interval_s if not ctx.outages.is_down(STORE) else 1.0)


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | redis.exceptions.TimeoutError):
        return "no answer in time"
    return describe_reason(exc)

"""Clients for the test server; every test starts from an empty database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio

from streamweaver import AsyncClient, Client
from streamweaver.client import ConsumerOptions
from streamweaver.config import RedisConfig


@pytest.fixture
def client(r: redis.Redis, redis_config: RedisConfig) -> Iterator[Client]:
    with Client(redis_config) as sw:
        yield sw


@pytest.fixture
async def aclient(
    ar: redis.asyncio.Redis, redis_config: RedisConfig
) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(redis_config) as sw:
        yield sw


@pytest.fixture
def fast() -> dict[str, object]:
    """Consumer options that make reclaim and stop quick in tests."""
    return {
        "options": ConsumerOptions(claim_interval_ms=50),
        "block_ms": 50,
        "claim_idle_ms": 200,
        "count": 10,
    }

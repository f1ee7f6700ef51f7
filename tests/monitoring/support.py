"""Running a broker with monitoring in the test's event loop, and polling it.

Import as ``from monitoring.support import ...`` (tests/ is on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from streamweaver.broker.service import Broker
from streamweaver.config import Config
from streamweaver.embedded import free_port
from streamweaver.storage import open_store

FAST = {
    "monitoring": {"enabled": True, "host": "127.0.0.1", "collect_interval": "200ms"},
    "broker": {"discovery_interval": "200ms", "rebalance_interval": "200ms"},
    "archive": {"segment_max_messages": 50, "segment_max_age": "300ms"},
    "retention": {"check_interval": "200ms"},
}


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout_s: float = 15.0
) -> Any:
    """Await ``check()`` until it returns something truthy; fail on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s}s: {check}")
        await asyncio.sleep(0.05)


@dataclass
class Running:
    broker: Broker
    config: Config
    http: httpx.AsyncClient

    async def metrics(self) -> str:
        response = await self.http.get("/metrics")
        response.raise_for_status()
        return response.text

    async def overview(self) -> dict:
        response = await self.http.get("/api/v1/streams")
        response.raise_for_status()
        return response.json()


def monitoring_config(make_config: Callable[..., Config], **sections: dict) -> Config:
    merged = {name: dict(values) for name, values in FAST.items()}
    merged["monitoring"]["port"] = free_port()
    for name, values in sections.items():
        merged[name] = {**merged.get(name, {}), **values}
    return make_config(**merged)


async def start_broker(config: Config) -> AsyncIterator[Running]:
    stop = asyncio.Event()
    broker = Broker(
        config,
        store=open_store(config.storage),
    )
    task = asyncio.create_task(broker.run(stop))
    base_url = f"http://127.0.0.1:{config.monitoring.port}"
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:

        async def serving() -> bool:
            if task.done():
                task.result()
            try:
                return (await http.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(serving)
        try:
            yield Running(broker, config, http)
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)

"""Replay fixtures: a broker process (in this event loop) that runs replay only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from streamweaver.broker.service import Broker
from streamweaver.config import Config
from streamweaver.replay.component import install_replay
from streamweaver.storage import open_store


@pytest.fixture
async def start_broker(make_config) -> AsyncIterator[Callable[..., Awaitable[Config]]]:
    """Start an in-process broker that runs replay only; stopped after the test."""
    running: list[tuple[asyncio.Event, asyncio.Task]] = []

    async def start(config: Config | None = None, **sections: dict) -> Config:
        config = config or make_config(**sections)
        stop = asyncio.Event()
        broker = Broker(
            config, store=open_store(config.storage), installers=[install_replay]
        )
        running.append((stop, asyncio.create_task(broker.run(stop))))
        return config

    yield start
    for stop, task in running:
        stop.set()
        await asyncio.wait_for(task, 15)

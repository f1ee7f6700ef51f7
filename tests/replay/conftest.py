"""Replay fixtures: a broker process (in this event loop) that runs replay only."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

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


@pytest.fixture
def broker_thread(make_config) -> Iterator[Callable[..., Config]]:
    """Start a replay-only broker on its own thread, for synchronous callers."""
    running: list[
        tuple[asyncio.AbstractEventLoop, asyncio.Event, threading.Thread]
    ] = []

    def start(config: Config | None = None, **sections: dict) -> Config:
        config = config or make_config(**sections)
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        broker = Broker(
            config, store=open_store(config.storage), installers=[install_replay]
        )
        thread = threading.Thread(
            target=loop.run_until_complete, args=(broker.run(stop),), daemon=True
        )
        thread.start()
        running.append((loop, stop, thread))
        return config

    yield start
    for loop, stop, thread in running:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        loop.close()

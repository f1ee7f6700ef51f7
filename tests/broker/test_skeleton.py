"""The broker skeleton: supervision, outage logging and stream discovery."""

import asyncio
import contextlib
import logging

import pytest

from streamweaver.broker.discovery import StreamCatalog, is_managed, scan_streams
from streamweaver.broker.service import Broker
from streamweaver.broker.supervisor import Outages, Supervisor, pause
from streamweaver.config.model import StreamsConfig
from streamweaver.errors import ConnectionFailedError

from waiting import eventually


async def test_a_crashed_task_is_logged_and_restarted(caplog):
    runs = []

    async def flaky():
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("boom")
        await asyncio.Event().wait()

    supervisor = Supervisor(initial_backoff_s=0.01)
    supervisor.add("flaky", flaky)
    task = asyncio.create_task(supervisor.run())
    await eventually(lambda: len(runs) >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert supervisor.stats["flaky"].restarts == 2
    assert supervisor.stats["flaky"].last_error == "RuntimeError: boom"
    assert caplog.text.count("Task flaky crashed; restarting it") == 2


async def test_an_outage_error_restarts_the_task_without_a_traceback(caplog):
    runs = []

    async def needs_redis():
        runs.append(1)
        raise ConnectionFailedError("cannot reach Redis at x:1: connection refused")

    supervisor = Supervisor(initial_backoff_s=0.01)
    supervisor.add("needs-redis", needs_redis)
    task = asyncio.create_task(supervisor.run())
    await eventually(lambda: len(runs) >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog):
    caplog.set_level(logging.INFO)
    outages = Outages()

    for _ in range(5):
        outages.failed("Redis", "connection refused")
    assert outages.is_down("Redis")
    for _ in range(3):
        outages.recovered("Redis")

    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == (
        "Redis is unavailable: connection refused. Retrying with backoff."
    )
    assert messages[1].startswith("Redis is available again after")
    assert len(messages) == 2


@pytest.mark.redis_compat
async def test_discovery_finds_streams_but_not_internal_keys_or_other_types(ar):
    await ar.xadd("orders", {"a": "1"})
    await ar.xadd("payments:eu", {"a": "1"})
    await ar.xadd("sw:control", {"a": "1"})
    await ar.set("not-a-stream", "x")

    assert await scan_streams(ar) == ["orders", "payments:eu"]


def test_include_and_exclude_patterns_choose_the_managed_streams():
    config = StreamsConfig(include=["orders*", "payments"], exclude=["*:tmp"])

    assert is_managed("orders:eu", config)
    assert is_managed("payments", config)
    assert not is_managed("orders:tmp", config)
    assert not is_managed("clicks", config)
    assert not is_managed("sw:orders", StreamsConfig())
    assert not is_managed("orders:replay:abc", StreamsConfig())


async def test_the_catalog_notices_new_streams(ar):
    catalog = StreamCatalog(ar, StreamsConfig())
    assert await catalog.refresh() == []

    await ar.xadd("orders", {"a": "1"})

    assert await catalog.refresh() == ["orders"]
    assert catalog.changed.is_set()


async def test_the_broker_stops_cleanly_when_asked(make_config, ar):
    await ar.xadd("orders", {"a": "1"})
    broker = Broker(make_config())
    stop = asyncio.Event()
    running = asyncio.create_task(broker.run(stop))

    await eventually(
        lambda: broker.context and broker.context.catalog.streams == ["orders"]
    )
    stop.set()

    await asyncio.wait_for(running, 10)
    assert running.exception() is None


async def test_a_loop_that_loses_its_cancellation_still_stops():
    started = asyncio.Event()

    async def swallows_cancel_once():
        started.set()
        # Lose the cancellation, as a redis-py command can (redis-py issue 2028).
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        while True:
            await pause(0.01)

    supervisor = Supervisor(initial_backoff_s=0.01)
    supervisor.add("careless", swallows_cancel_once)
    task = asyncio.create_task(supervisor.run())
    await started.wait()

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)

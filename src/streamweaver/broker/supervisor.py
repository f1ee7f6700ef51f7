"""Supervision of the broker's long-running tasks.

Each component runs as one asyncio task. A task that crashes is logged and
started again after an exponential backoff, so a bug or an outage never
silently stops archival. Errors that mean "a dependency is down" are expected
during an outage: they are logged once by :class:`Outages`, not per retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import redis.exceptions

from streamweaver.errors import (
    ConnectionFailedError,
    OperationTimeoutError,
    StorageUnavailableError,
)

log = logging.getLogger(__name__)

OUTAGE_ERRORS = (
    ConnectionFailedError,
    OperationTimeoutError,
    StorageUnavailableError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
"""Errors that mean a dependency is unreachable rather than a bug."""


def raise_if_cancelled() -> None:
    """Raise CancelledError if the current task was asked to stop.

    redis-py can swallow a task's cancellation inside a command (redis-py
    issue 2028), for example when it lands as a blocking read completes.
    Loops call this, or :func:`pause`, so that they still stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def pause(seconds: float) -> None:
    """Sleep between steps of a loop; stop if a cancellation was swallowed."""
    raise_if_cancelled()
    await asyncio.sleep(seconds)


async def finish_despite_cancel(step: Coroutine[Any, Any, None]) -> None:
    """Run ``step`` to its end even if the caller is cancelled, then re-raise.

    A second cancellation while waiting abandons it (the broker's shutdown
    timeout has run out).
    """
    task = asyncio.ensure_future(step)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            with contextlib.suppress(Exception):  # the caller is going away
                await task
        raise


@dataclass
class Outages:
    """Which dependencies are down; logs each outage when it starts and ends."""

    down_since: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def failed(self, dependency: str, reason: str) -> None:
        self.reasons[dependency] = reason
        if dependency not in self.down_since:
            self.down_since[dependency] = time.monotonic()
            log.warning(
                "%s is unavailable: %s. Retrying with backoff.", dependency, reason
            )

    def recovered(self, dependency: str) -> None:
        started = self.down_since.pop(dependency, None)
        self.reasons.pop(dependency, None)
        if started is not None:
            log.info(
                "%s is available again after %.1fs; resuming.",
                dependency,
                time.monotonic() - started,
            )

    def is_down(self, dependency: str) -> bool:
        return dependency in self.down_since


@dataclass
class TaskStats:
    restarts: int = 0
    last_error: str | None = None


class Supervisor:
    """Runs named coroutine factories forever, restarting them when they fail."""

    def __init__(
        self, *, initial_backoff_s: float = 0.5, max_backoff_s: float = 30.0
    ) -> None:
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.stats: dict[str, TaskStats] = {}
        self._factories: dict[str, Callable[[], Awaitable[None]]] = {}

    def add(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Register a task; ``factory()`` returns a fresh coroutine for each start."""
        self._factories[name] = factory
        self.stats[name] = TaskStats()

    async def run(self) -> None:
        """Run every registered task until cancelled."""
        async with asyncio.TaskGroup() as group:
            for name, factory in self._factories.items():
                group.create_task(self._keep_running(name, factory), name=name)

    async def _keep_running(
        self, name: str, factory: Callable[[], Awaitable[None]]
    ) -> None:
        backoff_s = self.initial_backoff_s
        while True:
            started = time.monotonic()
            try:
                await factory()
                log.debug("Task %s finished; starting it again.", name)
            except asyncio.CancelledError:
                raise
            except OUTAGE_ERRORS as exc:
                log.debug("Task %s stopped by an outage: %s", name, exc)
                self._count(name, exc)
            except Exception as exc:
                log.exception(
                    "Task %s crashed; restarting it in %.1fs.", name, backoff_s
                )
                self._count(name, exc)
            if time.monotonic() - started > 60:
                backoff_s = self.initial_backoff_s
            await pause(backoff_s)
            backoff_s = min(backoff_s * 2, self.max_backoff_s)

    def _count(self, name: str, exc: BaseException) -> None:
        stats = self.stats[name]
        stats.restarts += 1
        stats.last_error = f"{type(exc).__name__}: {exc}"

"""Polling helpers: wait for a condition with a timeout, never a fixed sleep."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable

import pytest


def wait_for(
    condition: Callable[[], object], timeout_s: float = 10.0, interval_s: float = 0.02
) -> object:
    """Poll until ``condition()`` is truthy and return its value; fail on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s}s: {condition}")
        time.sleep(interval_s)


async def eventually(
    condition: Callable[[], object], timeout_s: float = 10.0, interval_s: float = 0.02
) -> object:
    """Async twin of :func:`wait_for`; ``condition`` may return an awaitable."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s}s: {condition}")
        await asyncio.sleep(interval_s)

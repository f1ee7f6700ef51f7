"""Running one coroutine per stream with a fixed number of workers, not a task each."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


async def run_bounded(
    func: Callable[[K, V], Awaitable[R]], items: Iterable[tuple[K, V]], limit: int
) -> dict[K, R | Exception]:
    """``func(key, value)`` for every item, at most ``limit`` at once.

    Returns each key's result, or the Exception it raised; cancellation and
    other BaseExceptions propagate.
    """
    queue = list(items)
    queue.reverse()
    results: dict[K, R | Exception] = {}

    async def worker() -> None:
        while queue:
            key, value = queue.pop()
            try:
                results[key] = await func(key, value)
            except Exception as exc:
                results[key] = exc

    await asyncio.gather(*(worker() for _ in range(min(limit, len(queue)))))
    return results

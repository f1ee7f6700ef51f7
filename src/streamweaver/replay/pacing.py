"""When each replayed message may go out: at once, at a rate, or as originally spaced.

A :class:`Pacer` gives every message a due time on the monotonic clock,
measured from the first message it saw (so a resumed job paces from where it
resumed). A rate limit spaces messages ``1/rate`` seconds apart; original
pacing keeps the gaps between the messages' IDs, divided by the speed-up. With
both, a message waits for whichever is later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from streamweaver.broker.supervisor import raise_if_cancelled
from streamweaver.replay.request import Pace


class Pacer:
    """Computes due times for messages in the order they are replayed."""

    def __init__(
        self,
        pace: Pace,
        rate_per_s: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pace = pace
        self.rate_per_s = rate_per_s
        self._clock = clock
        self._start_s: float | None = None
        self._first_ms = 0
        self._count = 0

    @property
    def unpaced(self) -> bool:
        """True when every message is due at once."""
        return not self.pace.original and self.rate_per_s is None

    def due_s(self, id_ms: int) -> float:
        """The clock time at which the next message (with ID time ``id_ms``) is due."""
        if self._start_s is None:
            self._start_s = self._clock()
            self._first_ms = id_ms
        due = self._start_s
        if self.rate_per_s is not None:
            due = max(due, self._start_s + self._count / self.rate_per_s)
        if self.pace.original:
            gap_s = max(0, id_ms - self._first_ms) / 1000 / self.pace.speedup
            due = max(due, self._start_s + gap_s)
        self._count += 1
        return due

    def wait_s(self, id_ms: int) -> float:
        """How long to wait before the next message may go out (0 if due)."""
        return max(0.0, self.due_s(id_ms) - self._clock())


async def sleep_unless(event: asyncio.Event, delay_s: float) -> bool:
    """Sleep ``delay_s`` or until ``event`` is set; True if it was set."""
    # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that
    # arrives as the event is set, and the caller would then never stop. And
    # a cancellation redis-py swallowed in the caller's last command stops it
    # here.
    raise_if_cancelled()
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=delay_s)
    finally:
        waiter.cancel()
    return event.is_set()

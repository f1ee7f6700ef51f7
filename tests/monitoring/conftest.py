"""A broker running in the test's event loop with monitoring on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from monitoring.support import Running, monitoring_config, start_broker
from streamweaver.config import Config


@pytest.fixture
async def monitored(
    make_config: Callable[..., Config], ar: Any
) -> AsyncIterator[Running]:
    """A broker with monitoring on; Redis is flushed first (the ``ar`` fixture)."""
    async for running in start_broker(monitoring_config(make_config)):
        yield running

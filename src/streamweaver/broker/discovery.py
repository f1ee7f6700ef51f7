"""Finding the streams the broker manages.

Streams are found with ``SCAN ... TYPE stream`` (never KEYS), StreamWeaver's
own keys are skipped, and the ``streams`` config section's include and
exclude glob patterns choose among the rest.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Iterable

import redis.asyncio

from streamweaver import keys
from streamweaver.broker.logs import sample
from streamweaver.broker.supervisor import pause
from streamweaver.config.model import StreamsConfig

log = logging.getLogger(__name__)


def is_managed(stream: str, config: StreamsConfig) -> bool:
    """Tell whether the config's include/exclude patterns select this stream."""
    if keys.is_internal(stream):
        return False
    included = any(fnmatch.fnmatchcase(stream, p) for p in config.include)
    excluded = any(fnmatch.fnmatchcase(stream, p) for p in config.exclude)
    return included and not excluded


async def scan_streams(client: redis.asyncio.Redis, *, count: int = 1000) -> list[str]:
    """Every stream key in the database, internal ones excluded, sorted."""
    found = set()
    async for key in client.scan_iter(count=count, _type="stream"):
        name = key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else key
        if not keys.is_internal(name):
            found.add(name)
    return sorted(found)


class StreamCatalog:
    """The current set of managed streams, refreshed by a background task."""

    def __init__(self, client: redis.asyncio.Redis, config: StreamsConfig) -> None:
        self._client = client
        self._config = config
        self.streams: list[str] = []
        self.changed = asyncio.Event()

    async def refresh(self) -> list[str]:
        """Scan Redis once and update the managed set; returns it."""
        found = [
            s for s in await scan_streams(self._client) if is_managed(s, self._config)
        ]
        added, removed = _diff(self.streams, found)
        if added:
            log.info("Now managing %d new stream(s): %s", len(added), sample(added))
        if removed:
            log.info(
                "No longer managing %d stream(s): %s", len(removed), sample(removed)
            )
        if added or removed:
            self.streams = found
            self.changed.set()
        return self.streams

    async def run(self, interval_s: float) -> None:
        """Refresh forever, every ``interval_s`` seconds."""
        while True:
            await self.refresh()
            await pause(interval_s)


def _diff(old: Iterable[str], new: Iterable[str]) -> tuple[list[str], list[str]]:
    before, after = set(old), set(new)
    return sorted(after - before), sorted(before - after)

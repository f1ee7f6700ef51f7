"""The collection cycle: Redis, the archive index and the store into one Snapshot.

The broker runs :meth:`Collector.run` as a supervised task on
``monitoring.collect_interval``; ``streamweaver status`` calls
:meth:`Collector.collect` once. Rates come from the difference between two
cycles, so the first cycle has none.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import redis.asyncio
import redis.exceptions

from streamweaver.broker.supervisor import OUTAGE_ERRORS, pause, raise_if_cancelled
from streamweaver.config.model import Config
from streamweaver.errors import StorageError
from streamweaver.monitoring.forecast import seconds_until_trim
from streamweaver.monitoring.redis_stats import read_streams, server_time_ms
from streamweaver.monitoring.snapshot import (
    ArchiveStats,
    Snapshot,
    StreamStats,
    VolumeStats,
)
from streamweaver.partitioning import logical_streams
from streamweaver.retention.policy import retention_for
from streamweaver.storage.base import Store

log = logging.getLogger(__name__)

GROWTH_WINDOW_S = 60.0
"""Time constant of the smoothed growth rate that forecasts use."""


class ArchiveSource(Protocol):
    """Reads what the archive index knows about streams."""

    async def summaries(self, streams: Sequence[str]) -> dict[str, ArchiveStats]: ...


class ReplaySource(Protocol):
    """Reads how many replay jobs are in each state."""

    async def counts_by_state(self) -> dict[str, int]: ...


class Collector:
    """Gathers a Snapshot; keeps the latest one and the previous for rates."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        config: Config,
        streams: Callable[[], Awaitable[Sequence[str]]],
        *,
        store: Store | None = None,
        archive: ArchiveSource | None = None,
        replays: ReplaySource | None = None,
    ) -> None:
        self._client = client
        self._config = config
        self._streams = streams
        self._store = store
        self._archive = archive
        self._replays = replays
        self.latest: Snapshot | None = None
        self.last_error: str | None = None

    async def collect(self) -> Snapshot:
        """Run one collection cycle and return (and keep) its snapshot."""
        started = time.monotonic()
        now_ms = await server_time_ms(self._client)
        names = list(await self._streams())
        streams = await self._read(names, now_ms)
        snapshot = Snapshot(
            collected_at_s=now_ms / 1000,
            duration_s=0.0,
            streams=streams,
            replay_jobs=await self._replays.counts_by_state() if self._replays else {},
            volume=await self._volume(),
            logical={
                name: p.names
                for name, p in (await logical_streams(self._client)).items()
            },
        )
        self._add_rates(snapshot)
        self._add_forecasts(snapshot)
        snapshot.duration_s = time.monotonic() - started
        self.latest = snapshot
        return snapshot

    async def collect_stream(self, name: str) -> StreamStats | None:
        """One stream read now; rates come from the latest snapshot."""
        now_ms = await server_time_ms(self._client)
        stats = (await self._read([name], now_ms)).get(name)
        if stats is None:
            return None
        before = self.latest.streams.get(name) if self.latest else None
        if before is not None:
            stats.rate_per_s = before.rate_per_s
            stats.growth_per_s = before.growth_per_s
        self._add_forecast(stats)
        return stats

    async def run(self, interval_s: float) -> None:
        """Collect forever; a failed cycle keeps the previous snapshot."""
        while True:
            try:
                await self.collect()
                self.last_error = None
            except (*OUTAGE_ERRORS, redis.exceptions.RedisError) as exc:
                if self.last_error is None:
                    log.warning(
                        "Could not collect stream statistics: %s. "
                        "Serving the last snapshot and trying again.",
                        exc,
                    )
                self.last_error = f"{type(exc).__name__}: {exc}"
            raise_if_cancelled()
            await pause(interval_s)

    async def _read(self, names: list[str], now_ms: int) -> dict[str, StreamStats]:
        archive = await self._archive.summaries(names) if self._archive else {}
        archived_until = {s: a.archived_until for s, a in archive.items()}
        streams, archive_lag_s = await read_streams(
            self._client, names, now_ms, archived_until
        )
        for name, stats in streams.items():
            stats.archive = archive.get(name, ArchiveStats())
            stats.archive.lag_s = archive_lag_s.get(name)
        return streams

    async def _volume(self) -> VolumeStats | None:
        if self._store is None:
            return None
        try:
            usage = await self._store.usage()
        except StorageError as exc:
            log.debug("Could not read the archive volume's usage: %s", exc)
            return None
        return VolumeStats(usage.total_bytes, usage.free_bytes) if usage else None

    def _add_rates(self, snapshot: Snapshot) -> None:
        previous = self.latest
        if previous is None:
            return
        elapsed_s = snapshot.collected_at_s - previous.collected_at_s
        if elapsed_s <= 0:
            return
        weight = 1 - math.exp(-elapsed_s / GROWTH_WINDOW_S)
        for name, stats in snapshot.streams.items():
            before = previous.streams.get(name)
            if before is None or stats.entries_added < before.entries_added:
                continue  # new, or deleted and created again: no rate yet
            stats.rate_per_s = (stats.entries_added - before.entries_added) / elapsed_s
            smoothed = before.growth_per_s
            stats.growth_per_s = (
                stats.rate_per_s
                if smoothed is None
                else smoothed + weight * (stats.rate_per_s - smoothed)
            )

    def _add_forecasts(self, snapshot: Snapshot) -> None:
        for stats in snapshot.streams.values():
            self._add_forecast(stats)

    def _add_forecast(self, stats: StreamStats) -> None:
        if not stats.groups:
            return
        rule = retention_for(stats.name, self._config)
        for group in stats.groups:
            group.seconds_until_trim = seconds_until_trim(rule, stats, group)

"""The monitoring component of a broker: the collector and the HTTP server.

Both run as supervised tasks in the broker's event loop. The HTTP server is
uvicorn on a socket this module binds itself, so a busy port is an ordinary
error (the supervisor retries) and uvicorn never touches the broker's signal
handlers. On shutdown the server stops accepting, lets running requests
finish for up to :data:`GRACE_S`, then closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from prometheus_client import CollectorRegistry, disable_created_metrics

from streamweaver import __version__, keys
from streamweaver.broker.context import BrokerContext
from streamweaver.broker.health import REDIS, STORE
from streamweaver.connection import address_of
from streamweaver.coordination.report import read_ownership
from streamweaver.errors import StreamWeaverError
from streamweaver.monitoring import api_models as m
from streamweaver.monitoring import metrics
from streamweaver.monitoring.api import create_app
from streamweaver.monitoring.archive_stats import IndexArchiveSource
from streamweaver.monitoring.collector import Collector
from streamweaver.monitoring.exporter import SnapshotExporter
from streamweaver.monitoring.readiness import ReadinessProbe
from streamweaver.monitoring.replays import ReplayJobs
from streamweaver.monitoring.snapshot import printable
from streamweaver.monitoring.views import stream_detail, stream_summary
from streamweaver.replay.service import ReplayService
from streamweaver.retention.policy import retention_for

log = logging.getLogger(__name__)

GRACE_S = 5.0
"""How long running requests may take to finish when the broker stops."""


class MonitoringError(StreamWeaverError):
    """Raised when the monitoring HTTP server cannot listen on its address."""


def install_monitoring(ctx: BrokerContext) -> None:
    """Run the collector and the HTTP server when ``monitoring.enabled``."""
    if not ctx.config.monitoring.enabled:
        return
    disable_created_metrics()  # no *_created series beside every counter
    service = MonitoringService(ctx)
    interval_s = ctx.config.monitoring.collect_interval_s
    ctx.supervisor.add("metrics-collector", lambda: service.collector.run(interval_s))
    ctx.supervisor.add("http-api", service.serve)


class MonitoringService:
    """What the HTTP API serves, for one broker process."""

    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.replays = ReplayJobs(ReplayService.from_context(ctx))
        self.archive = (
            IndexArchiveSource(ctx.redis, ctx.store) if ctx.store is not None else None
        )

        async def managed_streams() -> list[str]:
            return list(ctx.catalog.streams)

        self.collector = Collector(
            ctx.redis,
            ctx.config,
            managed_streams,
            store=ctx.store,
            archive=self.archive,
            replays=self.replays,
        )
        self.probe = ReadinessProbe(ctx.redis, ctx.store, address_of(ctx.config.redis))
        self.registry = CollectorRegistry()
        self.registry.register(metrics.REGISTRY)
        backend = ctx.config.storage.type
        self.registry.register(SnapshotExporter(lambda: self.collector.latest, backend))
        self._restarts_seen: dict[str, int] = {}
        self.app = create_app(self)

    def refresh_own_metrics(self) -> None:
        """Set the process-level gauges from in-memory state (no Redis call)."""
        outages = self.ctx.outages
        metrics.UP.set(1)
        metrics.REDIS_UP.set(0 if outages.is_down(REDIS) else 1)
        store_up = self.ctx.store is not None and not outages.is_down(STORE)
        metrics.STORE_UP.set(1 if store_up else 0)
        for task, stats in self.ctx.supervisor.stats.items():
            new = stats.restarts - self._restarts_seen.get(task, 0)
            metrics.TASK_RESTARTS.labels(task=task).inc(max(new, 0))
            self._restarts_seen[task] = stats.restarts

    def overview(self) -> m.Overview:
        snapshot = self.collector.latest
        outages = self.ctx.outages
        return m.Overview(
            collected_at_s=snapshot.collected_at_s if snapshot else None,
            collect_duration_s=snapshot.duration_s if snapshot else None,
            collect_error=self.collector.last_error,
            instance_id=self.ctx.instance_id,
            version=__version__,
            redis_up=not outages.is_down(REDIS),
            store_up=self.ctx.store is not None and not outages.is_down(STORE),
            volume=m.Volume(**vars_of(snapshot.volume))
            if snapshot and snapshot.volume
            else None,
            replay_jobs=dict(snapshot.replay_jobs) if snapshot else {},
            streams=[stream_summary(s) for s in snapshot.streams.values()]
            if snapshot
            else [],
        )

    async def instances(self) -> m.Instances:
        """Which instance owns which managed stream, read from Redis now."""
        report = await read_ownership(self.ctx.redis, list(self.ctx.catalog.streams))
        return m.Instances(
            instance_id=self.ctx.instance_id,
            instances=[
                m.InstanceOwnership(
                    instance_id=printable(i.instance_id),
                    live=i.live,
                    heartbeat_expires_ms=i.heartbeat_expires_ms,
                    owned_streams=len(i.streams),
                    streams=[printable(s) for s in i.streams],
                )
                for i in report.instances
            ],
            unowned_streams=[printable(s) for s in report.unowned],
        )

    async def stream_detail(self, name: str) -> m.StreamDetail | None:
        if keys.is_internal(name):
            return None
        stats = await self.collector.collect_stream(name)
        if stats is None:
            return None
        return stream_detail(stats, retention_for(name, self.config))

    async def segments(self, name: str) -> list[m.Segment] | None:
        if keys.is_internal(name):
            return None
        if self.archive is None:
            exists = await self.ctx.redis.exists(name)
            return [] if exists else None
        return await self.archive.segments(name)

    async def serve(self) -> None:
        """Serve HTTP until cancelled, then shut down gracefully."""
        settings = self.config.monitoring
        with _listening(settings.host, settings.port) as sock:
            server = _Server(
                uvicorn.Config(
                    self.app,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                    timeout_graceful_shutdown=GRACE_S,
                )
            )
            serving = asyncio.ensure_future(server.serve(sockets=[sock]))
            log.info(
                "Monitoring on http://%s:%d/ (metrics at /metrics).",
                settings.host,
                settings.port,
            )
            try:
                await asyncio.shield(serving)
            except asyncio.CancelledError:
                server.should_exit = True
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(serving, GRACE_S + 1)
                raise


def vars_of(obj: object) -> dict:
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


@contextlib.contextmanager
def _listening(host: str, port: int) -> Iterator[socket.socket]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise MonitoringError(
            f"cannot serve monitoring on {host}:{port}: {exc.strerror or exc}; "
            "free the port or set monitoring.port"
        ) from exc
    try:
        yield sock
    finally:
        sock.close()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the broker owns SIGTERM and SIGINT

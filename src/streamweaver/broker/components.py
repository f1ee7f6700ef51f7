"""The components a broker process runs, in one list.

Each installer registers one or more supervised tasks on the context. A new
capability (archival, retention, replay, monitoring, leases) plugs in here.
"""

from __future__ import annotations

from collections.abc import Callable

from streamweaver.archive.component import install_archiver
from streamweaver.broker import health
from streamweaver.broker.context import BrokerContext
from streamweaver.monitoring.service import install_monitoring
from streamweaver.replay.component import install_replay
from streamweaver.retention.task import install_retention

Installer = Callable[[BrokerContext], None]


def install_health(ctx: BrokerContext) -> None:
    ctx.supervisor.add("redis-health", lambda: health.watch_redis(ctx))
    if ctx.store is not None:
        ctx.supervisor.add("store-health", lambda: health.watch_store(ctx))


def install_discovery(ctx: BrokerContext) -> None:
    interval_s = ctx.config.broker.discovery_interval_s
    ctx.supervisor.add("discovery", lambda: ctx.catalog.run(interval_s))


def install_ownership(ctx: BrokerContext) -> None:
    interval_s = ctx.config.broker.rebalance_interval_s
    ctx.supervisor.add(
        "ownership", lambda: ctx.ownership.run(lambda: ctx.catalog.streams, interval_s)
    )


def default_installers() -> list[Installer]:
    """Every component of a broker process, in start order."""
    return [
        install_health,
        install_discovery,
        install_ownership,
        install_archiver,
        install_retention,
        install_monitoring,
        install_replay,
    ]

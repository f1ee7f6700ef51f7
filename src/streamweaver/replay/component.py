"""Replay in the broker: the control-stream reader and the job scheduler."""

from __future__ import annotations

from streamweaver.broker.context import BrokerContext
from streamweaver.replay.control import ControlReader, replay_handlers
from streamweaver.replay.service import ReplayService


def install_replay(ctx: BrokerContext) -> None:
    """Serve replay requests; with ``replay.enabled: false``, refuse them."""
    service = ReplayService.from_context(ctx)
    reader = ControlReader(ctx.redis, ctx.instance_id, replay_handlers(service))
    ctx.supervisor.add("replay-control", reader.run)
    if ctx.config.replay.enabled:
        ctx.supervisor.add("replay-jobs", service.run)

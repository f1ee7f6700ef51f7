"""Replay jobs as the monitoring API sees them: read from Redis, started and cancelled.

Jobs are listed from ``keys.REPLAY_JOBS`` (newest first) and their hashes
``keys.replay_job(id)``, pipelined, at most :data:`MAX_JOBS` of them.
"""

from __future__ import annotations

from collections import Counter

import redis.asyncio

from streamweaver import keys
from streamweaver.errors import ReplayError
from streamweaver.monitoring.api_models import ReplayJob

MAX_JOBS = 1000
"""The newest jobs read per call; older ones expire with ``replay.job_ttl``."""


class ReplayUnavailableError(ReplayError):
    """Raised when this broker build cannot start or cancel replay jobs."""


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class ReplayJobs:
    """Reads replay jobs from Redis."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._client = client

    async def list(self) -> list[ReplayJob]:
        """The newest jobs first; a job whose hash expired is left out."""
        ids = await self._client.zrevrange(keys.REPLAY_JOBS, 0, MAX_JOBS - 1)
        if not ids:
            return []
        pipe = self._client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(keys.replay_job(_text(job_id)))
        jobs = []
        for job_id, raw in zip(ids, await pipe.execute(), strict=True):
            if not raw:
                continue
            fields = {_text(k): _text(v) for k, v in raw.items()}
            jobs.append(
                ReplayJob(
                    id=_text(job_id),
                    state=fields.get("state", "unknown"),
                    stream=fields.get("stream"),
                    fields=fields,
                )
            )
        return jobs

    async def counts_by_state(self) -> dict[str, int]:
        """How many of the listed jobs are in each state."""
        return dict(Counter(job.state for job in await self.list()))

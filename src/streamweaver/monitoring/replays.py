"""Replay jobs for the monitoring API: listed, started and cancelled through replay.

Requests go through :class:`streamweaver.replay.service.ReplayService`, the
same path as control-stream requests, so they are checked and stored the same
way; a cancel reaches a job running on any broker through the job's hash.
"""

from __future__ import annotations

from collections import Counter

from streamweaver.monitoring.api_models import ReplayJob, ReplayStart
from streamweaver.replay.jobs import Job, JobStore
from streamweaver.replay.service import ReplayService

MAX_JOBS = 1000
"""The newest jobs listed and counted; older ones expire with ``replay.job_ttl``."""


def job_model(job: Job) -> ReplayJob:
    return ReplayJob(
        id=job.id,
        state=job.state or "unknown",
        stream=job.fields.get("stream"),
        fields=dict(job.fields),
    )


class ReplayJobs:
    """The API's view of replay jobs."""

    def __init__(self, service: ReplayService | JobStore) -> None:
        self._service = service  # a JobStore can list but not start or cancel

    async def list(self) -> list[ReplayJob]:
        """The newest jobs first."""
        return [job_model(job) for job in await self._service.list(limit=MAX_JOBS)]

    async def counts_by_state(self) -> dict[str, int]:
        """How many of the listed jobs are in each state."""
        return dict(Counter(job.state for job in await self.list()))

    async def start(self, request: ReplayStart) -> ReplayJob:
        """Submit a request; raises ReplayRejectedError with the reason if refused."""
        assert isinstance(self._service, ReplayService)
        fields = request.model_dump(by_alias=True, exclude_none=True)
        return job_model(await self._service.submit(fields, source="http"))

    async def cancel(self, job_id: str) -> ReplayJob | None:
        """Cancel a job; None if there is no such job."""
        assert isinstance(self._service, ReplayService)
        job = await self._service.cancel(job_id)
        return None if job is None else job_model(job)

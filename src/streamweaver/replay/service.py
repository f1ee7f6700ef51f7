"""The replay service: accept, list and cancel jobs, and run them in the broker.

Every request, whatever it came through (control stream, HTTP API, Python
client, CLI), is turned into a job by :meth:`ReplayService.submit`: checked,
then stored as a queued job, or stored as a rejected one with the reason.
Submitting needs only Redis, so any process holding a service can do it; the
brokers' schedulers pick queued jobs up, at most ``replay.max_concurrent_jobs``
per broker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import time
from collections.abc import Mapping

import redis.asyncio

from streamweaver import partitioning
from streamweaver.archive.rawread import raw_client
from streamweaver.broker.supervisor import OUTAGE_ERRORS
from streamweaver.config.model import Config
from streamweaver.replay import jobs, validate
from streamweaver.replay.executor import JobRunner
from streamweaver.replay.jobs import Job, JobStore
from streamweaver.replay.pacing import sleep_unless
from streamweaver.replay.request import (
    FIELDS,
    ReplayRejectedError,
    check_job_id,
    default_target,
    parse_request,
)
from streamweaver.replay.tiers import ArchiveSource

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0
"""How often a broker looks for queued jobs it was not told about."""


class ReplayService:
    """Replay jobs for one broker (or for any process that submits them)."""

    def __init__(
        self,
        config: Config,
        client: redis.asyncio.Redis,
        *,
        archive: ArchiveSource | None = None,
        instance_id: str = "",
        raw: redis.asyncio.Redis | None = None,
    ) -> None:
        self.config = config
        self.instance_id = instance_id
        self.jobs = JobStore(client)
        self._client = client
        self._raw = raw if raw is not None else raw_client(config.redis)
        self._archive = archive
        self._running: dict[str, JobRunner] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._wake = asyncio.Event()

    @classmethod
    def from_context(cls, ctx) -> ReplayService:
        """The service for a broker: its config, Redis, archive and instance ID."""
        from streamweaver.replay.archived import archive_for

        return cls(
            ctx.config,
            ctx.redis,
            archive=archive_for(ctx.redis, ctx.store),
            instance_id=ctx.instance_id,
        )

    async def submit(
        self,
        fields: Mapping[str, str | bytes],
        *,
        job_id: str | None = None,
        now_ms: int | None = None,
        source: str = "api",
    ) -> Job:
        """Check a request and store it as a queued job; return the job.

        ``fields`` are the control-stream fields; an ``id`` field names the job,
        else ``job_id``, else a fresh ID. A request whose job ID exists is not
        submitted again: the existing job is returned. A refused request is
        stored as a ``rejected`` job and raised as :class:`ReplayRejectedError`.
        """
        now = _now_ms() if now_ms is None else now_ms
        text = {_text(k): _text(v) for k, v in fields.items()}
        fallback_id = job_id or secrets.token_hex(8)
        try:
            job_id = check_job_id(text.get("id") or fallback_id)
        except ReplayRejectedError as exc:
            job_id = fallback_id
            await self._reject(job_id, text, exc, now, source)
            raise
        existing = await self.jobs.get(job_id)
        if existing is not None:
            log.info("Replay request for existing job %s ignored.", job_id)
            return existing
        try:
            record = await self._check(job_id, text, now)
        except ReplayRejectedError as exc:
            await self._reject(job_id, text, exc, now, source)
            raise
        record.update(created_ms=str(now), source=source, state=jobs.QUEUED)
        await self.jobs.create(job_id, record, ttl_s=self.config.replay.job_ttl_s)
        log.info(
            "Replay %s queued: %s from %s to %s into %r.",
            job_id,
            record["stream"],
            record["start_id"],
            record["end_id"],
            record["target"],
        )
        self._wake.set()
        job = await self.jobs.get(job_id)
        return job if job is not None else Job(job_id, record)

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a job: at once if queued, at the next batch if running."""
        state = await self.jobs.cancel(job_id, ttl_s=self.config.replay.job_ttl_s)
        if state is None:
            return None
        runner = self._running.get(job_id)
        if runner is not None:
            runner.request_stop("cancel")
        log.info("Cancel requested for replay %s (was %s).", job_id, state)
        return await self.jobs.get(job_id)

    async def get(self, job_id: str) -> Job | None:
        return await self.jobs.get(job_id)

    async def list(self, *, limit: int = 100) -> list[Job]:
        """The newest jobs first."""
        return await self.jobs.list(limit=limit)

    async def run(self) -> None:
        """Claim and run queued jobs forever (the broker component)."""
        try:
            while True:
                try:
                    await self._schedule()
                except OUTAGE_ERRORS as exc:
                    log.debug("Replay scheduling skipped during an outage: %s", exc)
                await sleep_unless(self._wake, POLL_INTERVAL_S)
                self._wake.clear()
        finally:
            await asyncio.shield(self._release_all())

    async def _check(self, job_id: str, text: dict[str, str], now: int) -> dict:
        if not self.config.replay.enabled:
            raise ReplayRejectedError(
                "disabled",
                "replay is disabled on this broker (replay.enabled is false)",
            )
        request = parse_request(text, now_ms=now)
        logical = await partitioning.lookup(self._raw, request.stream)
        names = logical.names if logical is not None else ()
        if names and not text.get("mode"):
            # A logical stream's merged messages need new IDs.
            request = dataclasses.replace(request, mode="append")
        target = request.target or default_target(request.stream, job_id)
        plan = await validate.plan(
            self._raw,
            self._archive,
            request,
            target=target,
            config=self.config.replay,
            partitions=names,
        )
        return {
            **request.fields(),
            "start_id": str(request.start_id),
            "end_id": str(plan.end_id),
            "target": target,
            "batch_size": str(plan.batch_size),
            "target_ttl_s": ""
            if plan.target_ttl_s is None
            else f"{plan.target_ttl_s:g}",
            "total": str(plan.total),
            "replayed": "0",
            "cursor": "",
            **({"partitions": json.dumps(list(names))} if names else {}),
        }

    async def _reject(
        self,
        job_id: str,
        text: dict[str, str],
        exc: ReplayRejectedError,
        now: int,
        source: str,
    ) -> None:
        exc.job_id = job_id
        record = {name: text[name] for name in FIELDS if name in text}
        record.update(
            state=jobs.REJECTED,
            error=exc.code,
            message=str(exc),
            created_ms=str(now),
            finished_ms=str(now),
            source=source,
        )
        await self.jobs.create(job_id, record, ttl_s=self.config.replay.job_ttl_s)
        log.info("Replay request %s rejected: %s", job_id, exc)

    async def _schedule(self) -> None:
        limit = self.config.replay.max_concurrent_jobs
        for job_id in await self.jobs.active_ids():
            if len(self._running) >= limit:
                return
            if job_id in self._running:
                continue
            claimed = await self.jobs.claim(
                job_id, self.instance_id, lease_s=self._lease_s
            )
            if claimed < 0:
                await self.jobs.forget_active(job_id)
            if claimed <= 0:
                continue
            job = await self.jobs.get(job_id)
            if job is None:
                continue
            runner = JobRunner(
                job,
                store=self.jobs,
                client=self._raw,
                archive=self._archive,
                owner=self.instance_id,
                claim=claimed,
                lease_s=self._lease_s,
                job_ttl_s=self.config.replay.job_ttl_s,
            )
            self._running[job_id] = runner
            self._tasks[job_id] = asyncio.create_task(
                self._execute(runner), name=f"replay:{job_id}"
            )

    async def _execute(self, runner: JobRunner) -> None:
        job_id = runner.job.id
        log.info("Replay %s started by %s.", job_id, self.instance_id)
        try:
            await runner.run()
        except OUTAGE_ERRORS as exc:
            log.info("Replay %s paused by an outage (%s); it will resume.", job_id, exc)
        except Exception as exc:
            log.exception("Replay %s failed.", job_id)
            await runner.fail("failed", f"{type(exc).__name__}: {exc}")
        finally:
            self._running.pop(job_id, None)
            self._tasks.pop(job_id, None)
            self._wake.set()

    async def _release_all(self) -> None:
        # Progress is committed with each batch, so stopping mid-job loses
        # nothing; giving the lease back lets another broker resume at once.
        tasks = dict(self._tasks)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        for job_id in tasks:
            try:
                await self.jobs.release(job_id, self.instance_id)
            except OUTAGE_ERRORS:
                log.info(
                    "Could not hand replay %s back; its lease will expire.", job_id
                )

    @property
    def _lease_s(self) -> float:
        return self.config.broker.lease_ttl_s


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

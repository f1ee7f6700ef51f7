"""Replay jobs as Redis hashes: create, claim, renew, finish, cancel, list.

A job lives in the hash ``sw:replay:job:<id>`` (schema in docs/protocol.md).
Every job is listed in ``sw:replay:jobs``; queued and running ones also in
``sw:replay:active``, which brokers poll for work. The sets are written before
a job is created and pruned after it ended, so a crash in between leaves an ID
whose job is gone or over, which is forgotten when next seen, never a job that
nobody runs or lists. A broker runs a job under a
lease kept in the hash (``owner``, ``lease_until_ms`` in Redis server time);
a job whose lease ran out, or whose owner is the claiming instance itself (a
restarted broker with a fixed instance ID), may be claimed by any broker. Every
state change is a script, so it checks the owner and applies in one step.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio

from streamweaver import keys
from streamweaver.replay import job_scripts as scripts

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
REJECTED = "rejected"
CANCELLED = "cancelled"
STATES = (QUEUED, RUNNING, DONE, FAILED, REJECTED, CANCELLED)
FINISHED = frozenset({DONE, FAILED, REJECTED, CANCELLED})

_YOUNG_MS = 60_000

_INT_FIELDS = (
    "created_ms",
    "started_ms",
    "finished_ms",
    "updated_ms",
    "replayed",
    "total",
    "batch_size",
    "lease_until_ms",
    "claims",
)


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of one job hash, every field as text."""

    id: str
    fields: Mapping[str, str]

    @property
    def state(self) -> str:
        return self.fields.get("state", "")

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def replayed(self) -> int:
        return self._int("replayed")

    @property
    def total(self) -> int:
        return self._int("total")

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name) or default

    def _int(self, name: str) -> int:
        value = self.fields.get(name, "")
        return int(value) if value.lstrip("-").isdigit() else 0

    def as_dict(self) -> dict[str, str | int | None]:
        """The job as JSON-ready data: counters and times as integers."""
        data: dict[str, str | int | None] = {"id": self.id}
        for name, value in sorted(self.fields.items()):
            if name in _INT_FIELDS:
                data[name] = int(value) if value.lstrip("-").isdigit() else None
            else:
                data[name] = value
        return data


class JobStore:
    """The replay job hashes in Redis, for the broker and for clients."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._client = client
        self._create = client.register_script(scripts.CREATE)
        self._claim = client.register_script(scripts.CLAIM)
        self._renew = client.register_script(scripts.RENEW)
        self._mirror = client.register_script(scripts.MIRROR)
        self._release = client.register_script(scripts.RELEASE)
        self._finish = client.register_script(scripts.FINISH)
        self._cancel = client.register_script(scripts.CANCEL)

    async def create(
        self, job_id: str, fields: Mapping[str, str], *, ttl_s: float
    ) -> bool:
        """Store a new job; False if a job with that ID exists (nothing changes)."""
        created_ms = int(fields.get("created_ms") or _now_ms())
        pairs = [x for item in fields.items() for x in item]
        await self._client.zadd(keys.REPLAY_JOBS, {job_id: created_ms}, nx=True)
        if fields.get("state") in (QUEUED, RUNNING):
            await self._client.zadd(keys.REPLAY_ACTIVE, {job_id: created_ms}, nx=True)
        created = await self._create(
            keys=[keys.replay_job(job_id)], args=[_ms(ttl_s), *pairs]
        )
        return bool(created)

    async def get(self, job_id: str) -> Job | None:
        raw = await self._client.hgetall(keys.replay_job(job_id))
        return Job(job_id, _decode(raw)) if raw else None

    async def list(self, *, limit: int = 100) -> list[Job]:
        """The newest ``limit`` jobs, newest first; expired ones are forgotten."""
        listed = await self._client.zrevrange(keys.REPLAY_JOBS, 0, -1, withscores=True)
        ids = [_text(i) for i, _ in listed]
        # An ID is listed a moment before its hash is written: never forget
        # a young one.
        young = {_text(i) for i, ms in listed if ms > _now_ms() - _YOUNG_MS}
        jobs: list[Job] = []
        gone: list[str] = []
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            pipe = self._client.pipeline(transaction=False)
            for job_id in chunk:
                pipe.hgetall(keys.replay_job(job_id))
            for job_id, raw in zip(chunk, await pipe.execute(), strict=True):
                if raw:
                    jobs.append(Job(job_id, _decode(raw)))
                elif job_id not in young:
                    gone.append(job_id)
            if len(jobs) >= limit:
                break
        if gone:
            await self._client.zrem(keys.REPLAY_JOBS, *gone)
        return jobs[:limit]

    async def active_ids(self) -> list[str]:
        """Queued and running jobs, oldest first."""
        ids = await self._client.zrange(keys.REPLAY_ACTIVE, 0, -1)
        return [_text(i) for i in ids]

    async def forget_active(self, job_id: str) -> None:
        """Drop an ID from the active set (its job is gone or has ended)."""
        await self._client.zrem(keys.REPLAY_ACTIVE, job_id)

    async def claim(self, job_id: str, owner: str, *, lease_s: float) -> int:
        """Take a queued job, or a running one whose lease ran out.

        Returns the claim number (1 for the first claim, 2 for the next, ...)
        when ``owner`` now runs the job, 0 when it may not, -1 when there is no
        such job any more or it has ended.
        """
        return int(
            await self._claim(
                keys=[keys.replay_job(job_id)], args=[owner, _ms(lease_s)]
            )
        )

    async def release(self, job_id: str, owner: str) -> bool:
        """Give up the lease of a running job so another broker resumes it now."""
        return bool(await self._release(keys=[keys.replay_job(job_id)], args=[owner]))

    async def renew(self, job_id: str, owner: str, *, lease_s: float) -> str:
        """Extend the lease: ``ok``, ``cancel`` (asked to stop) or ``lost``."""
        answer = await self._renew(
            keys=[keys.replay_job(job_id)], args=[owner, _ms(lease_s)]
        )
        return _text(answer)

    async def mirror(self, job_id: str, owner: str, **progress: str | int) -> str:
        """Copy a runner's progress into the job: ``ok``, ``cancel`` or ``lost``."""
        pairs = [x for item in progress.items() for x in item]
        answer = await self._mirror(
            keys=[keys.replay_job(job_id)], args=[owner, *pairs]
        )
        return _text(answer)

    async def finish(
        self,
        job_id: str,
        owner: str,
        state: str,
        *,
        ttl_s: float,
        **fields: str | int,
    ) -> bool:
        """Record the outcome and start the summary's expiry; False if not owner."""
        pairs = [x for item in {"state": state, **fields}.items() for x in item]
        done = await self._finish(
            keys=[keys.replay_job(job_id)], args=[owner, _ms(ttl_s), *pairs]
        )
        if done:
            await self.forget_active(job_id)
        return bool(done)

    async def cancel(self, job_id: str, *, ttl_s: float) -> str | None:
        """Cancel a queued job, or ask the broker running it to stop.

        Returns the job's state after the call (``running`` until the broker
        notices), or None when there is no such job.
        """
        state = await self._cancel(keys=[keys.replay_job(job_id)], args=[_ms(ttl_s)])
        if state is None:
            return None
        if _text(state) == CANCELLED:
            await self.forget_active(job_id)
        return _text(state)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _decode(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}

"""Replay jobs as Redis hashes: create, claim, renew, finish, cancel, list.

A job lives in the hash ``sw:replay:job:<id>`` (schema in docs/protocol.md).
Every job is listed in ``sw:replay:jobs``; queued and running ones also in
``sw:replay:active``, which brokers poll for work. A broker runs a job under a
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

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
REJECTED = "rejected"
CANCELLED = "cancelled"
STATES = (QUEUED, RUNNING, DONE, FAILED, REJECTED, CANCELLED)
FINISHED = frozenset({DONE, FAILED, REJECTED, CANCELLED})

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: job, jobs, active. ARGV: id, created_ms, ttl_ms, then field/value pairs.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'running' then
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""

# KEYS: job. ARGV: owner, lease_ms. Returns 1 when the caller now runs the job,
# 0 when it may not, -1 when the job is gone.
_CLAIM = (
    _NOW
    + """
local job = redis.call('HMGET', KEYS[1], 'state', 'owner', 'lease_until_ms')
local state, owner, lease = job[1], job[2], tonumber(job[3] or '0')
if not state then return -1 end
if state == 'queued' or (state == 'running' and (lease <= now or owner == ARGV[1]))
then
  redis.call('HSET', KEYS[1], 'state', 'running', 'owner', ARGV[1],
             'lease_until_ms', now + tonumber(ARGV[2]), 'updated_ms', now)
  local started = redis.call('HGET', KEYS[1], 'started_ms')
  if not started or started == '' then
    redis.call('HSET', KEYS[1], 'started_ms', now)
  end
  redis.call('HINCRBY', KEYS[1], 'claims', 1)
  return 1
end
return 0
"""
)

# KEYS: job. ARGV: owner, lease_ms. Returns 'ok', 'cancel' or 'lost'.
_RENEW = (
    _NOW
    + """
local job = redis.call('HMGET', KEYS[1], 'state', 'owner', 'cancel')
if job[1] ~= 'running' or job[2] ~= ARGV[1] then return 'lost' end
redis.call('HSET', KEYS[1], 'lease_until_ms', now + tonumber(ARGV[2]))
if job[3] == '1' then return 'cancel' end
return 'ok'
"""
)

# KEYS: job. ARGV: owner. Gives the lease up so any broker may resume the job.
_RELEASE = """
local job = redis.call('HMGET', KEYS[1], 'state', 'owner')
if job[1] ~= 'running' or job[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease_until_ms', 0)
return 1
"""

# KEYS: job, active. ARGV: owner, id, ttl_ms, then field/value pairs.
_FINISH = (
    _NOW
    + """
local job = redis.call('HMGET', KEYS[1], 'state', 'owner')
if job[1] ~= 'running' or job[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'finished_ms', now, 'updated_ms', now,
           'lease_until_ms', 0, unpack(ARGV, 4))
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)

# KEYS: job, active. ARGV: id, ttl_ms. Returns the state after the call.
_CANCEL = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
if state == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_ms', now,
             'updated_ms', now, 'error', 'cancelled',
             'message', 'cancelled before it started')
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 'cancelled'
end
if state == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1', 'updated_ms', now)
end
return state
"""
)

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
        self._create = client.register_script(_CREATE)
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._finish = client.register_script(_FINISH)
        self._cancel = client.register_script(_CANCEL)

    async def create(
        self, job_id: str, fields: Mapping[str, str], *, ttl_s: float
    ) -> bool:
        """Store a new job; False if a job with that ID exists (nothing changes)."""
        created_ms = int(fields.get("created_ms") or _now_ms())
        pairs = [x for item in fields.items() for x in item]
        created = await self._create(
            keys=[keys.replay_job(job_id), keys.REPLAY_JOBS, keys.REPLAY_ACTIVE],
            args=[job_id, created_ms, _ms(ttl_s), *pairs],
        )
        return bool(created)

    async def get(self, job_id: str) -> Job | None:
        raw = await self._client.hgetall(keys.replay_job(job_id))
        return Job(job_id, _decode(raw)) if raw else None

    async def list(self, *, limit: int = 100) -> list[Job]:
        """The newest ``limit`` jobs, newest first; expired ones are forgotten."""
        ids = [_text(i) for i in await self._client.zrevrange(keys.REPLAY_JOBS, 0, -1)]
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
                else:
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
        """Drop an ID from the active set (its hash is gone)."""
        await self._client.zrem(keys.REPLAY_ACTIVE, job_id)

    async def claim(self, job_id: str, owner: str, *, lease_s: float) -> int:
        """Take a queued job, or a running one whose lease ran out.

        Returns 1 when ``owner`` now runs the job, 0 when it may not, -1 when
        there is no such job any more.
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
            keys=[keys.replay_job(job_id), keys.REPLAY_ACTIVE],
            args=[owner, job_id, _ms(ttl_s), *pairs],
        )
        return bool(done)

    async def cancel(self, job_id: str, *, ttl_s: float) -> str | None:
        """Cancel a queued job, or ask the broker running it to stop.

        Returns the job's state after the call (``running`` until the broker
        notices), or None when there is no such job.
        """
        state = await self._cancel(
            keys=[keys.replay_job(job_id), keys.REPLAY_ACTIVE],
            args=[job_id, _ms(ttl_s)],
        )
        return None if state is None else _text(state)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _decode(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}

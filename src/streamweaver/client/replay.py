"""Replay from the Python client: request a job, follow it, cancel it.

A request goes where every client's goes: one XADD to the control stream
``sw:control`` (see docs/protocol.md, "Replay"). The broker checks it and
creates the job hash ``sw:replay:job:<id>``; :func:`submit` waits until it
exists, so a refused request raises here with the broker's reason. Syntax
errors (a malformed time, ``from`` after ``to``) are caught before anything
is sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import redis
import redis.asyncio

from streamweaver import keys
from streamweaver.client._common import build_message
from streamweaver.client.ids import Position, StreamId
from streamweaver.client.message import AsyncMessage, Message
from streamweaver.client.names import check_stream
from streamweaver.config.model import RedisConfig, StorageConfig
from streamweaver.errors import OperationTimeoutError, ReplayError
from streamweaver.replay.jobs import FAILED, REJECTED, Job
from streamweaver.replay.request import (
    ReplayRejectedError,
    check_job_id,
    parse_request,
)
from streamweaver.storage.base import Store

ACCEPT_TIMEOUT_S = 10.0
"""How long :func:`submit` waits for a broker to take the request."""

_NO_BROKER = (
    "no broker took replay request {id} within {timeout:g}s; is "
    "streamweaver-broker running against this Redis? The request stays in "
    "sw:control and is served when a broker starts"
)


def request_fields(
    stream: str,
    start: Position = "-",
    end: Position = "+",
    *,
    target: str | None = None,
    mode: str | None = None,
    pace: str | None = None,
    rate: float | None = None,
    batch_size: int | None = None,
    target_ttl: str | float | None = None,
    job_id: str | None = None,
) -> dict[str, str]:
    """The control-stream fields of a replay request, checked for syntax."""
    fields = {
        "op": "replay",
        "stream": stream,
        "from": _position(start),
        "to": _position(end),
        "target": target,
        "mode": mode,
        "pace": pace,
        "rate": None if rate is None else f"{rate:g}",
        "batch_size": None if batch_size is None else str(batch_size),
        "target_ttl": None if target_ttl is None else str(target_ttl),
        "id": job_id,
    }
    chosen = {name: value for name, value in fields.items() if value is not None}
    if job_id is not None:
        check_job_id(job_id)
    parse_request(chosen, now_ms=time.time_ns() // 1_000_000)
    return chosen


class ReplayJob:
    """A handle on one replay job (synchronous)."""

    def __init__(self, client: redis.Redis, job_id: str) -> None:
        self.id = job_id
        self._client = client

    def __repr__(self) -> str:
        return f"ReplayJob({self.id!r})"

    @property
    def key(self) -> str:
        """The job hash, where the broker records state and progress."""
        return keys.replay_job(self.id)

    def status(self) -> Job:
        """The job as the broker last recorded it."""
        job = _job(self.id, self._client.hgetall(self.key))
        if job is None:
            raise ReplayError(
                f"replay job {self.id} does not exist (or its summary expired)",
                job_id=self.id,
            )
        return job

    def progress(self) -> tuple[int, int]:
        """Messages replayed so far and the (estimated) total."""
        job = self.status()
        return job.replayed, job.total

    def wait(
        self,
        timeout_s: float | None = None,
        *,
        poll_s: float = 0.2,
        on_progress: Callable[[Job], object] | None = None,
    ) -> Job:
        """Wait for the job to finish; raise ReplayError if it failed."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            job = self.status()
            if on_progress is not None:
                on_progress(job)
            if job.finished:
                return _checked(job)
            if deadline is not None and time.monotonic() > deadline:
                raise OperationTimeoutError(
                    f"replay job {self.id} did not finish within {timeout_s:g}s "
                    f"({job.replayed} of about {job.total} messages so far)"
                )
            time.sleep(poll_s)

    def cancel(self) -> None:
        """Ask the broker to stop the job; what was written stays."""
        self._client.xadd(keys.CONTROL_STREAM, {"op": "cancel", "id": self.id})


class AsyncReplayJob:
    """A handle on one replay job (asyncio)."""

    def __init__(self, client: redis.asyncio.Redis, job_id: str) -> None:
        self.id = job_id
        self._client = client

    def __repr__(self) -> str:
        return f"AsyncReplayJob({self.id!r})"

    @property
    def key(self) -> str:
        return keys.replay_job(self.id)

    async def status(self) -> Job:
        """The job as the broker last recorded it."""
        job = _job(self.id, await self._client.hgetall(self.key))
        if job is None:
            raise ReplayError(
                f"replay job {self.id} does not exist (or its summary expired)",
                job_id=self.id,
            )
        return job

    async def progress(self) -> tuple[int, int]:
        job = await self.status()
        return job.replayed, job.total

    async def wait(
        self,
        timeout_s: float | None = None,
        *,
        poll_s: float = 0.2,
        on_progress: Callable[[Job], object] | None = None,
    ) -> Job:
        """Wait for the job to finish; raise ReplayError if it failed."""
        async with asyncio.timeout(timeout_s):
            while True:
                job = await self.status()
                if on_progress is not None:
                    on_progress(job)
                if job.finished:
                    return _checked(job)
                await asyncio.sleep(poll_s)

    async def cancel(self) -> None:
        """Ask the broker to stop the job; what was written stays."""
        await self._client.xadd(keys.CONTROL_STREAM, {"op": "cancel", "id": self.id})


def submit(
    client: redis.Redis,
    fields: Mapping[str, str],
    *,
    accept_timeout_s: float = ACCEPT_TIMEOUT_S,
) -> ReplayJob:
    """Send a request (from :func:`request_fields`); return once a broker took it."""
    entry_id = _text(client.xadd(keys.CONTROL_STREAM, dict(fields)))
    job = ReplayJob(client, fields.get("id") or entry_id)
    deadline = time.monotonic() + accept_timeout_s
    while (found := _job(job.id, client.hgetall(job.key))) is None:
        if time.monotonic() > deadline:
            raise ReplayError(
                _NO_BROKER.format(id=job.id, timeout=accept_timeout_s), job_id=job.id
            )
        time.sleep(0.02)
    _raise_if_rejected(found)
    return job


async def submit_async(
    client: redis.asyncio.Redis,
    fields: Mapping[str, str],
    *,
    accept_timeout_s: float = ACCEPT_TIMEOUT_S,
) -> AsyncReplayJob:
    """Send a request; return once a broker took it (asyncio)."""
    entry_id = _text(await client.xadd(keys.CONTROL_STREAM, dict(fields)))
    job = AsyncReplayJob(client, fields.get("id") or entry_id)
    deadline = time.monotonic() + accept_timeout_s
    while (found := _job(job.id, await client.hgetall(job.key))) is None:
        if time.monotonic() > deadline:
            raise ReplayError(
                _NO_BROKER.format(id=job.id, timeout=accept_timeout_s), job_id=job.id
            )
        await asyncio.sleep(0.02)
    _raise_if_rejected(found)
    return job


class Tiers:
    """The archive-aware source of one client's ``read``, opened on first use.

    With ``storage`` (the broker config's ``storage`` section, or a store)
    reads cover the archive too; without, Redis only. Following the live tail
    needs neither.
    """

    def __init__(
        self, redis_config: RedisConfig, storage: StorageConfig | Store | None
    ) -> None:
        self.redis_config = redis_config
        self.storage = storage
        self._sync: Any = None  # replay.reading's readers, imported on first use
        self._async: Any = None

    @property
    def has_archive(self) -> bool:
        return self.storage is not None

    def read(
        self,
        stream: str,
        start: Position,
        end: Position,
        *,
        count: int | None,
        batch_size: int,
        follow: bool,
    ) -> Iterator[Message]:
        """Messages of the range across the tiers, then live ones if following."""
        check_stream(stream)
        if self._sync is None:
            from streamweaver.replay.reading import SyncTieredReader

            self._sync = SyncTieredReader(self.redis_config, self.storage)
        batches = self._sync.read(
            stream, start, end, batch_size=batch_size, follow=follow
        )
        return _capped(
            (
                build_message(Message, stream, entry_id, list(items))
                for batch in batches
                for entry_id, items in batch
            ),
            count,
        )

    async def read_async(
        self,
        stream: str,
        start: Position,
        end: Position,
        *,
        count: int | None,
        batch_size: int,
        follow: bool,
    ) -> AsyncIterator[AsyncMessage]:
        """The asyncio twin of :meth:`read`."""
        check_stream(stream)
        if self._async is None:
            from streamweaver.replay.reading import TieredReader

            self._async = TieredReader(self.redis_config, self.storage)
        left = count
        batches = self._async.read(
            stream, start, end, batch_size=batch_size, follow=follow
        )
        async for batch in batches:
            for entry_id, items in batch:
                if left is not None and left <= 0:
                    return
                yield build_message(AsyncMessage, stream, entry_id, list(items))
                left = None if left is None else left - 1

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None


def _capped(messages: Iterator[Message], count: int | None) -> Iterator[Message]:
    if count is None:
        yield from messages
        return
    for _, message in zip(range(count), messages, strict=False):
        yield message


def _raise_if_rejected(job: Job) -> None:
    if job.state == REJECTED:
        raise ReplayRejectedError(
            job.get("error", "rejected"),
            job.get("message", "the broker rejected the request"),
            stream=job.get("stream") or None,
            job_id=job.id,
        )


def _checked(job: Job) -> Job:
    if job.state == FAILED:
        raise ReplayError(
            f"replay job {job.id} failed ({job.get('error')}): {job.get('message')}",
            stream=job.get("stream") or None,
            job_id=job.id,
        )
    return job


def _job(job_id: str, reply: Any) -> Job | None:
    # The client's own connections return raw replies (a flat list).
    if not reply:
        return None
    pairs = (
        reply.items()
        if isinstance(reply, dict)
        else zip(reply[::2], reply[1::2], strict=True)
    )
    return Job(job_id, {_text(k): _text(v) for k, v in pairs})


def _position(value: Position) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StreamId):
        return str(value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ReplayError(
            f"{value!r} is not a position; use '-', '+', an ID, a time string, "
            "epoch milliseconds or a datetime"
        )
    return str(value)


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

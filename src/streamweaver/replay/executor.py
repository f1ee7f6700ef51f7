"""Running one claimed replay job: read the range, pace it, commit it in batches.

The runner first stamps the job's progress hash with its claim number and
resumes from the ``cursor`` found there (the last source ID committed), so a
job taken over after a crash continues with no gap and no duplicate. After each
batch the progress is copied into the job hash, which also tells the runner
about a cancel request or a lost lease; a background heartbeat renews the
lease. A runner whose job another broker took over stops without writing (the
commit script refuses a claim that is not the stamped one). A logical stream's
job reads its partitions merged by ID (:mod:`.merged`), with a cursor that
names the partition too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

import redis.asyncio

from streamweaver.broker.supervisor import pause
from streamweaver.client.ids import parse_id
from streamweaver.monitoring.metrics import REPLAYED_MESSAGES
from streamweaver.replay import jobs
from streamweaver.replay.jobs import Job, JobStore
from streamweaver.replay.merged import cursor_of, read_merged
from streamweaver.replay.pacing import Pacer, sleep_unless
from streamweaver.replay.request import parse_pace
from streamweaver.replay.tiers import ArchiveSource, Entry, read_range
from streamweaver.replay.writer import BatchWriter, Outcome, Progress

log = logging.getLogger(__name__)

T = TypeVar("T")


class Stopped(Exception):
    """The job must stop: cancelled, or its lease was lost."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JobRunner:
    """Executes one job this broker has claimed, until it ends or must stop."""

    def __init__(
        self,
        job: Job,
        *,
        store: JobStore,
        client: redis.asyncio.Redis,
        archive: ArchiveSource | None,
        owner: str,
        claim: int,
        lease_s: float,
        job_ttl_s: float,
    ) -> None:
        self.job = job
        self._store = store
        self._client = client
        self._archive = archive
        self._owner = owner
        self._lease_s = lease_s
        self._job_ttl_s = job_ttl_s
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._progress = Progress("", 0, "")
        self._partitions: list[str] = json.loads(job.get("partitions") or "[]")
        """The partitions of a logical stream, merged by ID; empty for a stream."""
        self._writer = BatchWriter(
            client,
            job_id=job.id,
            target=job.get("target"),
            stream=job.get("stream"),
            mode="append" if job.get("mode") == "append" else "preserve",
            claim=claim,
            ttl_s=float(job.get("target_ttl_s") or 0) or None,
            progress_ttl_s=max(job_ttl_s, lease_s),
            partitions=self._partitions,
        )

    def request_stop(self, reason: str) -> None:
        """Stop before the next batch; ``reason`` is ``cancel`` or ``lost``."""
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    async def fail(self, code: str, message: str) -> None:
        """Record the job as failed, if this broker still owns it."""
        await self._finish(jobs.FAILED, error=code, message=message)

    async def run(self) -> None:
        """Replay the rest of the range and record the outcome."""
        heartbeat = asyncio.create_task(self._heartbeat(), name=f"lease:{self.job.id}")
        try:
            progress = await self._writer.fence(self._owner)
            if progress is None:
                raise Stopped("lost")
            self._progress = progress
            await self._replay()
        except Stopped as stop:
            await self._stopped(stop.reason)
            return
        finally:
            heartbeat.cancel()
        await self._done()

    async def _replay(self) -> None:
        job = self.job
        rate = job.get("rate")
        pacer = Pacer(
            parse_pace(job.get("pace", "fast")), float(rate) if rate else None
        )
        batch_size = int(job.get("batch_size") or 1000)
        batches = _read_ahead(self._source(batch_size))
        async with contextlib.aclosing(batches):
            if pacer.unpaced:
                async for batch in batches:
                    await self._commit(batch)
            else:
                await self._paced(batches, pacer, batch_size)

    def _source(self, batch_size: int) -> AsyncIterator[Sequence[Any]]:
        job, cursor = self.job, self._progress.cursor
        start, end = parse_id(job.get("start_id")), parse_id(job.get("end_id"))
        if self._partitions:
            return read_merged(
                self._client,
                self._archive,
                self._partitions,
                start,
                end,
                batch_size=batch_size,
                cursor=cursor,
            )
        return read_range(
            self._client,
            self._archive,
            job.get("stream"),
            start,
            end,
            batch_size=batch_size,
            after=parse_id(cursor) if cursor else None,
        )

    async def _paced(
        self, batches: AsyncIterator[list[Entry]], pacer: Pacer, batch_size: int
    ) -> None:
        # Messages are held back until due; whatever is due goes out together.
        pending: list[Entry] = []
        async for batch in batches:
            for entry in batch:
                wait_s = pacer.wait_s(parse_id(entry[0]).ms)
                if wait_s > 0 and pending:
                    await self._commit(pending)
                    pending = []
                if wait_s > 0:
                    await self._sleep(wait_s)
                pending.append(entry)
                if len(pending) >= batch_size:
                    await self._commit(pending)
                    pending = []
        if pending:
            await self._commit(pending)

    async def _commit(self, entries: Sequence[Entry]) -> None:
        if self._stop.is_set():
            raise Stopped(self._stop_reason)
        last = entries[-1]
        cursor = cursor_of(last) if self._partitions else _text(last[0])
        outcome = await self._writer.commit(entries, cursor)
        if outcome.status != "ok":
            raise Stopped(_reason(outcome))
        self._progress = Progress(cursor, outcome.replayed, outcome.detail)
        REPLAYED_MESSAGES.labels(self.job.get("stream")).inc(len(entries))
        answer = await self._store.mirror(self.job.id, self._owner, **self._fields())
        if answer != "ok":
            raise Stopped(answer)

    async def _sleep(self, delay_s: float) -> None:
        if await sleep_unless(self._stop, delay_s):
            raise Stopped(self._stop_reason)

    async def _heartbeat(self) -> None:
        interval_s = self._lease_s / 3
        while True:
            await pause(interval_s)
            try:
                answer = await self._store.renew(
                    self.job.id, self._owner, lease_s=self._lease_s
                )
            except (redis.exceptions.RedisError, OSError) as exc:
                log.debug(
                    "Could not renew the lease of replay %s: %s", self.job.id, exc
                )
                continue
            if answer != "ok":
                self.request_stop("cancel" if answer == "cancel" else "lost")
                return

    async def _stopped(self, reason: str) -> None:
        job_id = self.job.id
        if reason == "lost":
            log.warning(
                "Replay %s was taken over by another broker; stopping here.", job_id
            )
            return
        if reason == "cancel":
            log.info(
                "Replay %s cancelled after %d message(s).",
                job_id,
                self._progress.replayed,
            )
            await self._finish(jobs.CANCELLED, error="cancelled", message=_CANCELLED)
            return
        code, message = reason.split(":", 1)
        log.warning("Replay %s failed: %s", job_id, message)
        await self._finish(jobs.FAILED, error=code, message=message)

    async def _done(self) -> None:
        if self._progress.replayed == 0:
            await self._finish(
                jobs.FAILED,
                error="empty_range",
                message="the range held no entries when the replay ran",
            )
            return
        log.info(
            "Replay %s done: %d message(s) written to %r.",
            self.job.id,
            self._progress.replayed,
            self.job.get("target"),
        )
        await self._finish(jobs.DONE, total=self._progress.replayed)

    def _fields(self) -> dict[str, str | int]:
        progress = self._progress
        return {
            "cursor": progress.cursor,
            "replayed": progress.replayed,
            "last_target_id": progress.last_target_id,
        }

    async def _finish(self, state: str, **fields: str | int) -> None:
        await asyncio.shield(self._record_end(state, fields))

    async def _record_end(self, state: str, fields: dict[str, str | int]) -> None:
        finished = await self._store.finish(
            self.job.id,
            self._owner,
            state,
            ttl_s=self._job_ttl_s,
            **self._fields(),
            **fields,
        )
        if finished:
            await self._writer.forget()


async def _read_ahead(batches: AsyncIterator[T]) -> AsyncIterator[T]:
    # Reading and decoding the next batch overlaps with committing this one:
    # one runs in Python (and a thread), the other in Redis.
    pending = asyncio.ensure_future(anext(batches))
    try:
        while True:
            try:
                batch = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(batches))
            yield batch
    finally:
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        await batches.aclose()


_CANCELLED = "cancelled on request; the messages written before stay in the target"


def _reason(outcome: Outcome) -> str:
    if outcome.status in ("lost", "cancel"):
        return outcome.status
    if outcome.status == "not_stream":
        return (
            f"target_not_stream:the target became a {outcome.detail}, not a stream; "
            "nothing more was written"
        )
    if outcome.status == "behind":
        return (
            f"target_ahead:the target's last ID is now {outcome.detail}, at or past "
            "the next ID to replay (someone else wrote to it); nothing more was written"
        )
    return f"failed:unexpected answer {outcome.status!r} from the batch script"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

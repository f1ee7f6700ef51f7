"""The archiver: copies every owned stream into the archive, segment by segment.

Per stream it reads with XRANGE from just after the last archived ID, in
chunks of ``archive.read_batch``, and builds one segment in memory (each chunk
turned into Arrow columns as it arrives, :class:`SegmentBuilder`) until it
holds ``segment_max_messages`` entries or ``segment_max_size`` bytes, or until
its oldest entry is older than ``segment_max_age`` (then a small segment is cut
so archival never lags by more than that). A full segment is encoded in a
worker thread, stored with ``store.put`` and then recorded in the index, which
advances the stream's ``archived_until``; only then may retention trim it.

Memory is one segment per stream being built; at most ``CONCURRENCY`` streams
are read or written at once. An outage of Redis or the store is logged once
(``ctx.outages``) and retried with backoff; the stream's partial segment is
dropped and read again from Redis afterwards, which is where it still is.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import redis.asyncio

from streamweaver.archive import faults, orphans
from streamweaver.archive.bounded import run_bounded
from streamweaver.archive.rawread import RawEntry, xrange_raw
from streamweaver.archive.segment import SegmentBuilder, SegmentMeta, gc_paused
from streamweaver.broker.health import REDIS, STORE
from streamweaver.broker.supervisor import (
    OUTAGE_ERRORS,
    Outages,
    finish_despite_cancel,
    pause,
)
from streamweaver.config.model import ArchiveConfig
from streamweaver.connection import is_slot_moving
from streamweaver.errors import LeaseLostError, StorageError, StorageUnavailableError
from streamweaver.monitoring import metrics
from streamweaver.retention.ids import StreamId, parse_id
from streamweaver.storage.base import Store

log = logging.getLogger(__name__)

CONCURRENCY = 4
SEGMENTS_PER_TURN = 8
"""Segments one stream may write before the others get their turn."""

IDLE_POLL_S = 0.25
IDLE_MAX_S = 2.0
MAX_BACKOFF_S = 5.0


LATE_ORPHAN_SWEEPS = 3
"""How many segments after a start re-list the store for late orphans."""


@dataclass
class _Building:
    """One stream's progress: where reading resumes and the segment being built."""

    stream: str
    archived_until: StreamId | None
    cursor: bytes | None
    epoch: int | None = None
    """The lease epoch this progress was read under."""
    segment: SegmentBuilder = field(init=False)
    size_bytes: int = 0
    orphans: dict[str, tuple[StreamId, StreamId]] = field(default_factory=dict)
    sweeps_left: int = LATE_ORPHAN_SWEEPS
    """Segments after the start that look again for orphans written late."""

    def __post_init__(self) -> None:
        self.segment = SegmentBuilder(self.stream)

    def oldest_ms(self) -> int | None:
        return self.segment.oldest_ms

    def take(self) -> SegmentBuilder:
        """Hand over the segment built so far and start a new one."""
        segment, self.segment = self.segment, SegmentBuilder(self.stream)
        self.size_bytes = 0
        return segment


class Archiver:
    """Archives streams; ``pass_once`` does one round, ``run`` loops forever."""

    def __init__(
        self,
        config: ArchiveConfig,
        client: redis.asyncio.Redis,
        store: Store,
        index,
        *,
        outages: Outages | None = None,
        working_on: Callable[[str], AbstractContextManager[bool]] | None = None,
    ) -> None:
        self.config = config
        self._working_on = working_on or (lambda _stream: nullcontext(True))
        self._client = client
        self._store = store
        self._index = index
        self._outages = outages or Outages()
        self._state: dict[str, _Building] = {}
        self._moving: set[str] = set()
        self._idle: defaultdict[str, tuple[float, float]] = defaultdict(
            lambda: (0.0, 0.0)
        )
        self._worked_on = 0
        self._idle_max_s = max(
            IDLE_POLL_S, min(IDLE_MAX_S, config.segment_max_age_s / 4)
        )

    async def run(self, owned) -> None:
        """Archive forever the streams ``owned()`` returns (name to lease epoch)."""
        backoff_s = 0.5
        while True:
            streams = owned()
            try:
                busy = await self.pass_once(streams)
                backoff_s = 0.5
            except OUTAGE_ERRORS as exc:
                self._failed(exc)
                await pause(backoff_s)
                backoff_s = min(backoff_s * 2, MAX_BACKOFF_S)
                continue
            if self._worked_on:
                self._outages.recovered(REDIS)  # those streams were just read
            if not busy:
                await pause(IDLE_POLL_S)

    async def pass_once(self, streams: dict[str, int | None]) -> bool:
        """One round over ``streams``; True if any segment was written."""
        for gone in set(self._state) - set(streams):
            del self._state[gone]  # another instance archives it now
        for gone in set(self._idle) - set(streams):
            del self._idle[gone]
        now = time.monotonic()
        due = {s: e for s, e in streams.items() if self._idle[s][0] <= now}
        self._worked_on = len(due)
        results = await run_bounded(self._owned_turn, due.items(), CONCURRENCY)
        busy = False
        for stream, result in results.items():
            if not isinstance(result, Exception):
                busy = busy or result
                self._settled(stream)
                continue
            self._state.pop(stream, None)  # resume from the index next time
            if isinstance(result, LeaseLostError):
                log.info("Stopped archiving %r: %s", stream, result)
            elif isinstance(result, OUTAGE_ERRORS):
                raise result
            elif is_slot_moving(result):
                self._moving_slot(stream, result)
            else:
                metrics.ARCHIVE_ERRORS.labels(stream).inc()
                log.error("Archiving %r failed; retrying.", stream, exc_info=result)
        return busy

    def _moving_slot(self, stream: str, exc: BaseException) -> None:
        # Redis Cluster is moving the stream's slot (or failing over): the
        # stream alone waits, and is retried next pass; logged once.
        if stream not in self._moving:
            self._moving.add(stream)
            log.warning(
                "Archiving %r waits while its hash slot moves between cluster "
                "nodes (%s); retrying.",
                stream,
                exc,
            )

    def _settled(self, stream: str) -> None:
        if stream in self._moving:
            self._moving.discard(stream)
            log.info("Archiving %r resumed; its hash slot has settled.", stream)

    async def _owned_turn(self, stream: str, epoch: int | None) -> bool:
        # The stream is not handed to another instance while its turn runs,
        # and a turn that starts after it was handed over does nothing.
        with self._working_on(stream) as still_owned:
            return await self._turn(stream, epoch) if still_owned else False

    async def _turn(self, stream: str, epoch: int | None) -> bool:
        state = self._state.get(stream)
        if state is None or state.epoch != epoch:
            # New, or lost and taken back between two passes: another instance
            # may have archived meanwhile and left unrecorded objects behind.
            state = await self._start(stream, epoch)
        cursor_before = state.cursor
        # The next segment is read while the previous one is stored and
        # recorded, but not while it is encoded: encoding is the memory peak.
        writing: asyncio.Task[None] | None = None
        written = 0
        try:
            while written < SEGMENTS_PER_TURN:
                if not await self._fill(stream, state):
                    break
                if writing is not None:
                    await writing
                encoded = asyncio.Event()
                writing = asyncio.create_task(
                    self._write(stream, state, state.take(), epoch, encoded)
                )
                await encoded.wait()
                written += 1
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)
        self._set_lag(stream, state, behind=written == SEGMENTS_PER_TURN)
        self._note_activity(stream, moved=state.cursor != cursor_before)
        return written > 0

    def _note_activity(self, stream: str, *, moved: bool) -> None:
        # A stream with nothing new is polled less and less often, up to
        # IDLE_MAX_S, so thousands of quiet streams cost few commands.
        _, wait_s = self._idle[stream]
        if moved:
            self._idle[stream] = (0.0, 0.0)
            return
        wait_s = min(max(IDLE_POLL_S, wait_s * 2), self._idle_max_s)
        self._idle[stream] = (time.monotonic() + wait_s, wait_s)

    async def _start(self, stream: str, epoch: int | None = None) -> _Building:
        await self._index.ensure(stream)
        until = await self._index.archived_until(stream)
        archived_until = parse_id(until) if until else None
        found = await self._scan_orphans(stream, archived_until)
        await orphans.delete_covered(self._store, stream, found, archived_until)
        state = _Building(
            stream=stream,
            archived_until=archived_until,
            cursor=until.encode() if until else None,
            epoch=epoch,
            orphans=found,
        )
        self._state[stream] = state
        return state

    async def _scan_orphans(
        self, stream: str, archived_until: StreamId | None
    ) -> dict[str, tuple[StreamId, StreamId]]:
        recorded = {
            meta.name for meta in await self._recent_segments(stream, archived_until)
        }
        return await orphans.find_orphans(
            self._store, stream, recorded, archived_until, now_ms=_now_ms()
        )

    async def _recent_segments(
        self, stream: str, archived_until: StreamId | None
    ) -> list[SegmentMeta]:
        if archived_until is None:
            return await self._index.segments(stream)
        day_start_ms = archived_until[0] - archived_until[0] % 86_400_000
        return await self._index.segments(stream, start_id=str(day_start_ms))

    async def _fill(self, stream: str, state: _Building) -> bool:
        """Read until a segment is due; True if one is."""
        with gc_paused():
            return await self._read_until_due(stream, state)

    async def _read_until_due(self, stream: str, state: _Building) -> bool:
        limit = self.config.segment_max_messages
        while state.segment.count < limit:
            start = b"(" + state.cursor if state.cursor else "-"
            want = min(self.config.read_batch, limit - state.segment.count)
            chunk = await xrange_raw(self._client, stream, start, "+", want)
            if chunk:
                state.segment.add(chunk)
                state.cursor = chunk[-1][0]
                state.size_bytes += _size(chunk)
                if state.size_bytes >= self.config.segment_max_bytes:
                    return True
            if len(chunk) < want:
                return self._too_old(state)
        return True

    def _too_old(self, state: _Building) -> bool:
        oldest_ms = state.oldest_ms()
        if oldest_ms is None:
            return False
        return _now_ms() - oldest_ms >= self.config.segment_max_age_s * 1000

    async def _write(
        self,
        stream: str,
        state: _Building,
        segment: SegmentBuilder,
        epoch: int | None,
        encoded: asyncio.Event,
    ) -> None:
        try:
            data, meta = await asyncio.to_thread(segment.encode)
        finally:
            encoded.set()
        faults.hit("before_put")
        # A broker that is stopping lets the put and its record finish: a put
        # whose record was cancelled would leave an orphan until the next start.
        await finish_despite_cancel(self._store_and_record(meta, data, epoch))
        self._outages.recovered(STORE)

        state.archived_until = parse_id(meta.last_id)
        state.orphans.pop(meta.name, None)
        if state.sweeps_left:
            # Puts are not fenced, only records are: just after a takeover, the
            # previous owner's last put may land after the scan at start.
            state.sweeps_left -= 1
            found = await self._scan_orphans(stream, state.archived_until)
            state.orphans.update(found)
        await orphans.delete_covered(
            self._store, stream, state.orphans, state.archived_until
        )
        metrics.ARCHIVED_MESSAGES.labels(stream).inc(meta.count)
        metrics.ARCHIVED_BYTES.labels(stream).inc(meta.size_bytes)
        metrics.SEGMENTS_WRITTEN.labels(stream).inc()
        metrics.ARCHIVE_LAST_SUCCESS.labels(stream).set(time.time())
        log.debug(
            "Archived %d entries of %r (%s to %s) as %s.",
            meta.count,
            stream,
            meta.first_id,
            meta.last_id,
            meta.name,
        )

    async def _store_and_record(
        self, meta: SegmentMeta, data: bytes, epoch: int | None
    ) -> None:
        faults.hit(
            "mid_put", lambda: faults.leave_partial_write(self._store, meta, data)
        )
        await self._put(meta.name, data)
        faults.hit("after_put")
        await self._index.record(meta, epoch=epoch)
        faults.hit("after_record")

    async def _put(self, name: str, data: bytes) -> None:
        try:
            await self._store.put(name, data)
        except StorageUnavailableError:
            raise
        except StorageError as exc:
            # A full volume or a refused write: an outage for us, not a bug.
            raise StorageUnavailableError(str(exc), location=exc.location) from exc

    def _set_lag(self, stream: str, state: _Building, *, behind: bool) -> None:
        oldest_ms = state.oldest_ms()
        if oldest_ms is None and behind and state.cursor:
            oldest_ms = parse_id(state.cursor)[0]  # more is waiting after the turn
        lag_s = 0.0 if oldest_ms is None else max(0.0, (_now_ms() - oldest_ms) / 1000)
        metrics.ARCHIVE_LAG.labels(stream).set(lag_s)

    def _failed(self, exc: BaseException) -> None:
        for stream in self._state:
            metrics.ARCHIVE_ERRORS.labels(stream).inc()
        self._state.clear()
        dependency = STORE if isinstance(exc, StorageError) else REDIS
        self._outages.failed(dependency, str(exc) or type(exc).__name__)


def _size(chunk: list[RawEntry]) -> int:
    fields = itertools.chain.from_iterable(entry[1] for entry in chunk)
    return sum(map(len, fields))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000

"""The retention task: trims each managed stream once its entries are archived.

Every ``retention.check_interval`` it computes each owned stream's trim point
(:mod:`streamweaver.retention.policy`) and applies it with ``XTRIM MINID ~``,
never MAXLEN: the approximate form only removes whole internal nodes, so it
may leave a few entries more than asked, never fewer, and MINID never reaches
past the entry after the last archived one. The trim runs in a script that
first checks this instance's lease epoch, so a broker that lost a stream to
another instance can never trim it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio

from streamweaver import keys
from streamweaver.archive import faults
from streamweaver.archive.bounded import run_bounded
from streamweaver.archive.rawread import id_at_offset
from streamweaver.broker.supervisor import OUTAGE_ERRORS
from streamweaver.config.model import Config
from streamweaver.connection import is_slot_moving
from streamweaver.monitoring import metrics
from streamweaver.retention import groups as groups_mod
from streamweaver.retention.ids import StreamId, format_id, next_id, parse_id
from streamweaver.retention.policy import (
    SIZE,
    TrimDecision,
    decide,
    excess_entries,
    group_floor,
    retention_for,
    time_minid,
)

log = logging.getLogger(__name__)

STEP_MAX_ENTRIES = 100_000
"""Most entries one trim step walks to find a count-based point; more takes steps."""

MAX_STEPS = 50
CONCURRENCY = 8

# Refuses (-1) when the lease has moved to a newer epoch than the caller's.
_FENCED_XTRIM = """
if ARGV[1] ~= '' then
  local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
  if epoch > tonumber(ARGV[1]) then return -1 end
end
return redis.call('XTRIM', KEYS[2], 'MINID', '~', ARGV[2])
"""

ArchivedUntil = Callable[[str], Awaitable[StreamId | None]]


class Trimmer:
    """Applies retention to the streams this broker owns."""

    def __init__(
        self,
        config: Config,
        client: redis.asyncio.Redis,
        archived_until: ArchivedUntil,
        *,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.config = config
        self._client = client
        self._archived_until = archived_until
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._trim = client.register_script(_FENCED_XTRIM)
        self._groups = groups_mod.GroupWatch()
        self._held_since: dict[str, float] = {}
        self._warned: set[str] = set()
        self._moving: set[str] = set()

    async def check_all(self, streams: dict[str, int | None]) -> int:
        """Trim every given stream (name to lease epoch); returns entries trimmed."""
        results = await run_bounded(self.check, streams.items(), CONCURRENCY)
        total = 0
        for stream, result in results.items():
            if isinstance(result, OUTAGE_ERRORS):
                raise result
            if is_slot_moving(result):
                if stream not in self._moving:
                    self._moving.add(stream)
                    log.warning(
                        "Retention of %r waits while its hash slot moves between "
                        "cluster nodes (%s); retrying.",
                        stream,
                        result,
                    )
            elif isinstance(result, Exception):
                log.error("Retention of %r failed; retrying.", stream, exc_info=result)
            else:
                self._moving.discard(stream)
                total += result
        return total

    async def check(self, stream: str, epoch: int | None = None) -> int:
        """Trim one stream as far as retention and the archive allow."""
        total = 0
        for _ in range(MAX_STEPS):
            trimmed, more = await self._step(stream, epoch)
            total += trimmed
            if not more or trimmed <= 0:
                break
        return total

    async def _step(self, stream: str, epoch: int | None) -> tuple[int, bool]:
        rule = retention_for(stream, self.config)
        before = await groups_mod.snapshot(self._client, stream)
        if before.first_id is None:
            return 0, False
        archived_until = await self._archived_until(stream)

        points: dict[str, StreamId] = {}
        if (point := time_minid(rule, self._now_ms())) is not None:
            points[rule.policy] = point
        memory = await self._memory(stream) if rule.policy == SIZE else None
        more = False
        for reason, excess in excess_entries(rule, before.length, memory).items():
            points[reason] = await self._point_after(
                stream, min(excess, STEP_MAX_ENTRIES), before, archived_until
            )
            more = more or excess > STEP_MAX_ENTRIES

        floor = holder = None
        if rule.protect_unacked:
            states = await self._groups.states(
                self._client, stream, before.groups, rule.group_idle_timeout_s
            )
            floor, holder = group_floor(states)
        decision = decide(
            points,
            first_id=before.first_id,
            archived_until=archived_until,
            last_id=before.last_id,
            floor=floor,
            floor_holder=holder,
        )
        self._note_hold(stream, decision)
        if decision.minid is None:
            return 0, False
        reason = decision.reason or "unknown"
        trimmed = await self._apply(stream, epoch, reason, decision.minid, before)
        return trimmed, more

    async def _apply(
        self,
        stream: str,
        epoch: int | None,
        reason: str,
        minid: StreamId,
        before: groups_mod.Snapshot,
    ) -> int:
        crossing = {
            g.name: await groups_mod.count_unread_below(self._client, stream, g, minid)
            for g in before.groups
            if not before.behind(g)
        }
        trimmed = await self._xtrim(stream, epoch, minid)
        if trimmed <= 0:
            return 0
        faults.hit("after_trim")
        metrics.TRIMMED_MESSAGES.labels(stream, reason).inc(trimmed)
        await self._client.hincrby(keys.trim_stats(stream), reason, trimmed)
        for group in before.groups:
            if group.name in crossing:
                left = await groups_mod.count_unread_below(
                    self._client, stream, group, minid
                )
                lost = crossing[group.name] - left
            else:
                lost = trimmed  # the group was behind every trimmed entry
            if lost > 0:
                metrics.TRIMMED_UNCONSUMED.labels(stream, group.name).inc(lost)
                log.info(
                    "Retention trimmed %d entries of %r that group %r had not read.",
                    lost,
                    stream,
                    group.name,
                )
        log.debug(
            "Trimmed %d entries of %r below %s (%s).",
            trimmed,
            stream,
            format_id(minid),
            reason,
        )
        return trimmed

    async def _xtrim(self, stream: str, epoch: int | None, minid: StreamId) -> int:
        # XTRIM ~ removes at most 100 nodes' worth per call; repeat until done.
        total = 0
        args = ["" if epoch is None else str(epoch), format_id(minid)]
        for _ in range(1000):
            n = await self._trim(keys=[keys.stream_lease(stream), stream], args=args)
            if n < 0:
                log.warning(
                    "Not trimming %r: another broker instance now owns it.", stream
                )
                return total
            total += n
            if n == 0:
                break
        return total

    async def _point_after(
        self,
        stream: str,
        excess: int,
        before: groups_mod.Snapshot,
        archived_until: StreamId | None,
    ) -> StreamId:
        """The ID after the oldest ``excess`` entries, walking archived ones only.

        Past the archived point the archive caps the trim anyway, so a rule
        that wants more is answered with "everything" without reading on.
        """
        everything = next_id(before.last_id) if before.last_id else (0, 0)
        if archived_until is None:
            return everything
        found = await id_at_offset(
            self._client, stream, excess, end=format_id(archived_until)
        )
        return parse_id(found) if found is not None else everything

    async def _memory(self, stream: str) -> int | None:
        return await self._client.memory_usage(stream, samples=5)

    def _note_hold(self, stream: str, decision: TrimDecision) -> None:
        if not decision.held_by_archive:
            self._held_since.pop(stream, None)
            if stream in self._warned:
                self._warned.discard(stream)
                log.info("Archival of %r caught up; retention applies again.", stream)
            return
        grace_s = (
            self.config.archive.segment_max_age_s
            + 2 * self.config.retention.check_interval_s
        )
        since = self._held_since.setdefault(stream, time.monotonic())
        if stream not in self._warned and time.monotonic() - since > grace_s:
            self._warned.add(stream)
            log.warning(
                "Stream %r holds entries that retention would remove but that are "
                "not archived yet; Redis keeps them (and grows past its limit) "
                "until archival catches up.",
                stream,
            )

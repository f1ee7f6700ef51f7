"""The broker component that decides which streams this instance works on.

Every ``renew_interval`` it heartbeats, computes the balanced assignment of the
discovered streams over the live instances, releases leases it should no longer
hold, and takes or renews the ones it should. Archival and retention act only
on ``owned`` streams and pass the lease epoch along for fencing.

A round that fails (Redis unreachable, or in Redis Cluster a slot moving or a
replica taking over) changes nothing: this instance keeps working on the
streams whose leases it renewed less than ``lease_ttl`` ago, which no other
instance can take before then, and drops the others. The same holds for one
stream whose lease alone could not be renewed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from streamweaver.broker.logs import sample
from streamweaver.broker.supervisor import OUTAGE_ERRORS, pause
from streamweaver.connection import is_slot_moving
from streamweaver.coordination.assignment import assign
from streamweaver.coordination.leases import Leases
from streamweaver.monitoring import metrics
from streamweaver.monitoring.snapshot import printable

log = logging.getLogger(__name__)


class Ownership:
    """The streams this instance holds a lease on, with their epochs."""

    def __init__(self, leases: Leases, *, lease_ttl_s: float) -> None:
        self.leases = leases
        self.lease_ttl_s = lease_ttl_s
        self.owned: dict[str, int] = {}
        self.instances: list[str] = []
        self._renewed_at: dict[str, float] = {}
        self._unrenewed: set[str] = set()
        self._failing_since: float | None = None

    @property
    def instance_id(self) -> str:
        return self.leases.owner

    def epoch(self, stream: str) -> int | None:
        """The fencing epoch of a stream this instance owns, else None."""
        return self.owned.get(stream)

    async def rebalance(self, streams: list[str]) -> dict[str, int]:
        """One round: heartbeat, release what moved away, take what is ours."""
        self.instances = await self.leases.heartbeat(self.lease_ttl_s)
        if self.instance_id not in self.instances:
            self.instances = sorted([*self.instances, self.instance_id])
        wanted = [
            stream
            for stream, owner in assign(streams, self.instances).items()
            if owner == self.instance_id
        ]
        moving = sorted(set(self.owned) - set(wanted))
        if moving:
            self._publish({s: e for s, e in self.owned.items() if s not in moving})
            await self.leases.release(moving)
            log.info("Handed %d stream(s) to other instances.", len(moving))
        held, failed = await self.leases.acquire_each(wanted)
        now = time.monotonic()
        self._renewed_at = {s: self._renewed_at.get(s, now) for s in self.owned}
        self._renewed_at.update(dict.fromkeys(held, now))
        held |= self._still_valid(failed, now)
        self._note_unrenewed(failed)
        gained = sorted(set(held) - set(self.owned))
        lost = sorted(set(self.owned) - set(held))
        if gained:
            log.info("Took over %d stream(s): %s", len(gained), sample(gained))
        if lost:
            log.warning("Lost the lease on %d stream(s): %s", len(lost), sample(lost))
        self._publish(held)
        return held

    def _publish(self, owned: dict[str, int]) -> None:
        """Set ``owned`` and the metrics that report it to Prometheus."""
        before, self.owned = set(self.owned), owned
        me = self.instance_id
        metrics.OWNED_STREAMS.labels(me).set(len(owned))
        for stream in before - set(owned):
            with contextlib.suppress(KeyError):
                metrics.STREAM_OWNER.remove(printable(stream), me)
        for stream in set(owned) - before:
            metrics.STREAM_OWNER.labels(printable(stream), me).set(1)

    def _still_valid(self, streams: Iterable[str], now: float) -> dict[str, int]:
        # A lease renewed less than lease_ttl ago is still this instance's.
        return {
            s: self.owned[s]
            for s in streams
            if s in self.owned and now - self._renewed_at[s] < self.lease_ttl_s
        }

    def _note_unrenewed(self, failed: dict[str, Exception]) -> None:
        new = sorted(set(failed) - self._unrenewed)
        if new:
            log.warning(
                "Could not renew the lease of %d stream(s) (%s): %s. Keeping them "
                "until their leases expire and retrying.",
                len(new),
                sample(new),
                failed[new[0]],
            )
        back = sorted(self._unrenewed - set(failed))
        if back:
            log.info("Renewed the leases of %s again.", sample(back))
        self._unrenewed = set(failed)

    async def _round(self, streams: list[str]) -> None:
        try:
            await self.rebalance(streams)
        except OUTAGE_ERRORS as exc:
            self._round_failed(exc)
        except Exception as exc:
            if not is_slot_moving(exc):
                raise
            self._round_failed(exc)
        else:
            if self._failing_since is not None:
                log.info(
                    "Leases are renewed again after %.1fs.",
                    time.monotonic() - self._failing_since,
                )
                self._failing_since = None

    def _round_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            log.warning(
                "Could not renew leases: %s. Working on until they expire; retrying.",
                exc,
            )
        kept = self._still_valid(list(self.owned), now)
        expired = sorted(set(self.owned) - set(kept))
        if expired:
            log.warning(
                "Stopped working on %d stream(s) whose leases expired unrenewed: %s",
                len(expired),
                sample(expired),
            )
        self._publish(kept)

    async def run(
        self, current_streams: Callable[[], Iterable[str]], interval_s: float
    ) -> None:
        """Rebalance forever; on cancellation, release every lease and leave."""
        try:
            while True:
                await self._round(list(current_streams()))
                await pause(interval_s)
        finally:
            await asyncio.shield(self._leave())

    async def _leave(self) -> None:
        owned = list(self.owned)
        self._publish({})
        try:
            await self.leases.release(owned)
            await self.leases.leave()
        except Exception:  # best effort: the leases expire anyway
            log.debug("Could not release leases on shutdown.", exc_info=True)

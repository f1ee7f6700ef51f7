"""The broker component that decides which streams this instance works on.

Every ``renew_interval`` it heartbeats, computes the balanced assignment of the
discovered streams over the live instances, releases leases it should no longer
hold, and takes or renews the ones it should. Archival and retention act only
on ``owned`` streams and pass the lease epoch along for fencing.

A stream that moves to another instance is released only once no step of work
on it is running here (:meth:`Ownership.working_on`), and its lease is renewed
meanwhile: the next owner then finds every segment this instance wrote
recorded, never an object stored after it looked for orphans.

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
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

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
        self.instances: list[str] = []
        self._owned: dict[str, int] = {}
        self._in_use: Counter[str] = Counter()
        self._handing_over: set[str] = set()
        self._renewed_at: dict[str, float] = {}
        self._unrenewed: set[str] = set()
        self._failing_since: float | None = None

    @property
    def instance_id(self) -> str:
        return self.leases.owner

    @property
    def owned(self) -> dict[str, int]:
        """The streams this instance works on, by lease epoch.

        A stream whose lease was last renewed ``lease_ttl`` ago or more is left
        out even before a round notices, since another instance may hold it.
        """
        renewed_after = time.monotonic() - self.lease_ttl_s
        return {
            s: e
            for s, e in self._owned.items()
            if self._renewed_at.get(s, 0.0) > renewed_after
        }

    @contextlib.contextmanager
    def working_on(self, stream: str) -> Iterator[bool]:
        """Hold back handing ``stream`` over while the block runs.

        Yields whether this instance still owns the stream; work must be
        skipped when it does not.
        """
        self._in_use[stream] += 1
        try:
            yield self._holds(stream)
        finally:
            self._in_use[stream] -= 1
            if self._in_use[stream] <= 0:
                del self._in_use[stream]

    def _holds(self, stream: str) -> bool:
        renewed_at = self._renewed_at.get(stream)
        return (
            stream in self._owned
            and renewed_at is not None
            and time.monotonic() - renewed_at < self.lease_ttl_s
        )

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
        moving = set(self._owned) - set(wanted)
        if moving:
            self._publish({s: e for s, e in self._owned.items() if s not in moving})
        busy = await self._hand_over(moving, wanted)
        asked = time.monotonic()  # the leases run from no later than this
        held, failed = await self.leases.acquire_each([*wanted, *busy])
        for stream in busy:  # renewed only until its work here is done
            held.pop(stream, None)
            failed.pop(stream, None)
        self._renewed_at = {s: self._renewed_at.get(s, asked) for s in self._owned}
        self._renewed_at.update(dict.fromkeys(held, asked))
        held |= self._still_valid(failed, time.monotonic())
        self._note_unrenewed(failed)
        gained = sorted(set(held) - set(self.owned))
        lost = sorted(set(self._owned) - set(held))
        if gained:
            log.info("Took over %d stream(s): %s", len(gained), sample(gained))
        if lost:
            log.warning("Lost the lease on %d stream(s): %s", len(lost), sample(lost))
        self._publish(held)
        return held

    async def _hand_over(self, moving: set[str], wanted: list[str]) -> list[str]:
        """Release what moved away and is idle here; the streams still busy."""
        self._handing_over = (self._handing_over | moving) - set(wanted)
        idle = sorted(s for s in self._handing_over if not self._in_use[s])
        if idle:
            await self.leases.release(idle)
            self._handing_over -= set(idle)
            log.info("Handed %d stream(s) to other instances.", len(idle))
        return sorted(self._handing_over)

    def _publish(self, owned: dict[str, int]) -> None:
        """Set ``owned`` and the metrics that report it to Prometheus."""
        before, self._owned = set(self._owned), owned
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
            s: self._owned[s]
            for s in streams
            if s in self._owned and now - self._renewed_at[s] < self.lease_ttl_s
        }

    def _note_unrenewed(self, failed: dict[str, Exception]) -> None:
        new = sorted(set(failed) - self._unrenewed)
        if new:
            log.warning(
                "Could not renew the lease of %d stream(s) (%s); working on them "
                "until their leases expire, and retrying. The error: %s",
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
                "Could not renew leases; working on until they expire, and "
                "retrying. The error: %s",
                exc,
            )
        kept = self._still_valid(list(self._owned), now)
        expired = sorted(set(self._owned) - set(kept))
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
        owned = sorted(set(self._owned) | self._handing_over)
        self._publish({})
        try:
            await self.leases.release(owned)
            await self.leases.leave()
        except Exception:  # best effort: the leases expire anyway
            log.debug("Could not release leases on shutdown.", exc_info=True)

"""The broker component that decides which streams this instance works on.

Every ``renew_interval`` it heartbeats, computes the balanced assignment of the
discovered streams over the live instances, releases leases it should no longer
hold, and takes or renews the ones it should. Archival and retention act only
on ``owned`` streams and pass the lease epoch along for fencing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from streamweaver.broker.logs import sample
from streamweaver.broker.supervisor import pause
from streamweaver.coordination.assignment import assign
from streamweaver.coordination.leases import Leases

log = logging.getLogger(__name__)


class Ownership:
    """The streams this instance holds a lease on, with their epochs."""

    def __init__(self, leases: Leases, *, lease_ttl_s: float) -> None:
        self.leases = leases
        self.lease_ttl_s = lease_ttl_s
        self.owned: dict[str, int] = {}
        self.instances: list[str] = []

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
            self.owned = {s: e for s, e in self.owned.items() if s not in moving}
            await self.leases.release(moving)
            log.info("Handed %d stream(s) to other instances.", len(moving))
        held = await self.leases.acquire(wanted)
        gained = sorted(set(held) - set(self.owned))
        lost = sorted(set(self.owned) - set(held))
        if gained:
            log.info("Took over %d stream(s): %s", len(gained), sample(gained))
        if lost:
            log.warning("Lost the lease on %d stream(s): %s", len(lost), sample(lost))
        self.owned = held
        return held

    async def run(
        self, current_streams: Callable[[], Iterable[str]], interval_s: float
    ) -> None:
        """Rebalance forever; on cancellation, release every lease and leave."""
        try:
            while True:
                await self.rebalance(list(current_streams()))
                await pause(interval_s)
        finally:
            await asyncio.shield(self._leave())

    async def _leave(self) -> None:
        owned, self.owned = list(self.owned), {}
        try:
            await self.leases.release(owned)
            await self.leases.leave()
        except Exception:  # best effort: the leases expire anyway
            log.debug("Could not release leases on shutdown.", exc_info=True)

"""Consumer groups as retention sees them: who still needs which entries.

A group is *idle* when no consumer of it was seen (an attempted read, the
``idle`` field of XINFO CONSUMERS) within ``retention.group_idle_timeout``;
a group without any consumer is idle once this broker has seen it empty for
that long. Idle groups do not hold back trimming.

Messages trimmed before a group read them are counted per group: when the
group is behind the first entry, every trimmed entry is one it never read;
when the trim point passes the group's last-delivered ID, the entries between
the two are counted with XRANGE before and after the trim (at most
``COUNT_BOUND`` of them, so a larger gap is undercounted). XINFO's ``lag`` is
not used: for a group created at an explicit ID the server has no read
counter and its estimate leaves trimmed entries out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio

from streamweaver.archive.rawread import xrange_raw
from streamweaver.retention.ids import StreamId, format_id, parse_id
from streamweaver.retention.policy import GroupState, group_is_idle

COUNT_BOUND = 10_000


@dataclass(frozen=True, slots=True)
class GroupLag:
    """One group's read position at one moment."""

    name: str
    last_delivered: StreamId


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A stream's length, first and last entry and its groups' read positions."""

    length: int
    first_id: StreamId | None
    last_id: StreamId | None
    groups: list[GroupLag]

    def behind(self, group: GroupLag) -> bool:
        """True when the group has not read even the first entry still here."""
        return self.first_id is not None and self.first_id > group.last_delivered


async def snapshot(client: redis.asyncio.Redis, stream: str) -> Snapshot:
    """Read length, first and last ID and the groups, in one round trip."""
    pipe = client.pipeline(transaction=False)
    pipe.xlen(stream)
    pipe.execute_command("XRANGE", stream, "-", "+", "COUNT", 1)
    pipe.execute_command("XREVRANGE", stream, "+", "-", "COUNT", 1)
    pipe.xinfo_groups(stream)
    length, first, last, groups = await pipe.execute()
    return Snapshot(
        length=length,
        first_id=parse_id(first[0][0]) if first else None,
        last_id=parse_id(last[0][0]) if last else None,
        groups=[
            GroupLag(
                name=_text(g["name"]),
                last_delivered=parse_id(g["last-delivered-id"]),
            )
            for g in groups
        ],
    )


class GroupWatch:
    """Remembers since when each group has had no consumers."""

    def __init__(self) -> None:
        self._empty_since: dict[tuple[str, str], float] = {}

    async def states(
        self,
        client: redis.asyncio.Redis,
        stream: str,
        groups: list[GroupLag],
        idle_timeout_s: float,
    ) -> list[GroupState]:
        """Each group's oldest pending entry and whether it is idle."""
        if not groups:
            return []
        pipe = client.pipeline(transaction=False)
        for group in groups:
            pipe.xpending(stream, group.name)
            pipe.xinfo_consumers(stream, group.name)
        replies = await pipe.execute()
        now = time.monotonic()
        states = []
        for i, group in enumerate(groups):
            pending, consumers = replies[2 * i], replies[2 * i + 1]
            key = (stream, group.name)
            if consumers:
                self._empty_since.pop(key, None)
                empty_for_s = None
            else:
                empty_for_s = now - self._empty_since.setdefault(key, now)
            oldest = pending.get("min") if pending.get("pending") else None
            states.append(
                GroupState(
                    name=group.name,
                    last_delivered=group.last_delivered,
                    oldest_pending=parse_id(oldest) if oldest else None,
                    idle=group_is_idle(
                        (c["idle"] for c in consumers), empty_for_s, idle_timeout_s
                    ),
                )
            )
        return states


async def count_unread_below(
    client: redis.asyncio.Redis, stream: str, group: GroupLag, minid: StreamId
) -> int:
    """Entries after the group's last read and below ``minid``, at most COUNT_BOUND."""
    if minid <= group.last_delivered:
        return 0
    start = "(" + format_id(group.last_delivered)
    end = "(" + format_id(minid)
    return len(await xrange_raw(client, stream, start, end, COUNT_BOUND))


def _text(value: object) -> str:
    return (
        value.decode("utf-8", "surrogateescape")
        if isinstance(value, bytes)
        else str(value)
    )

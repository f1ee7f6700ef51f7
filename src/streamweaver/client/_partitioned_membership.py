"""Who reads which partition, agreed on without a coordinator.

Every consumer of a group over a logical stream heartbeats into the group's
membership set (``keys.group_members``) and computes its share from the live
members with :func:`streamweaver.coordination.assignment.assign`, which gives
the same answer on every member; a consumer that stops heartbeating drops out
and its partitions move. See docs/protocol.md, "Partitioned streams".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamweaver.client._protocol import Call
from streamweaver.coordination.assignment import assign
from streamweaver.errors import ConfigError
from streamweaver.partitioning import Partitioning

HEARTBEAT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if ARGV[3] == 'leave' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], string.format('%.0f', now + ttl), ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now))
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], 3 * ttl)
end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
"""Join (or renew) or leave, drop expired members, return the live ones."""


@dataclass(frozen=True, slots=True)
class MembershipOptions:
    """How a consumer of a partitioned stream shows it is alive."""

    heartbeat_ms: int = 1000
    """How often it renews its membership and checks the assignment."""
    member_ttl_ms: int = 10_000
    """A consumer silent this long is dropped and its partitions move."""

    def __post_init__(self) -> None:
        for name in ("heartbeat_ms", "member_ttl_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.member_ttl_ms <= self.heartbeat_ms:
            raise ConfigError(
                f"member_ttl_ms ({self.member_ttl_ms}) must be longer than "
                f"heartbeat_ms ({self.heartbeat_ms})"
            )


def owned_partitions(
    partitioning: Partitioning, members: list[str], consumer: str
) -> tuple[str, ...]:
    """The partitions ``consumer`` reads when ``members`` are the live consumers."""
    owners = assign(partitioning.names, members)
    return tuple(name for name in partitioning.names if owners.get(name) == consumer)


def heartbeat_call(
    members_key: str, consumer: str, membership: MembershipOptions, *, leave: bool
) -> Call:
    """Renew (or end) ``consumer``'s membership; the reply lists the live members."""
    return Call(
        ("EVAL", HEARTBEAT_SCRIPT, 1, members_key, consumer,
         membership.member_ttl_ms, "leave" if leave else "join"),
        members_key,
    )  # fmt: skip


def live_members(reply: Sequence[str | bytes]) -> tuple[str, ...]:
    """The members in a heartbeat's reply, sorted."""
    return tuple(sorted(_text(member) for member in reply))


def partition_indices(partitioning: Partitioning, names: list[str]) -> str:
    """``names`` as their partition numbers, for log lines."""
    return ", ".join(str(partitioning.names.index(name)) for name in names)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""Redis Cluster redirections, and how a command that met one is sent again.

A node answers a command for a slot it does not serve with a redirection and
does not run it, so sending the command again cannot apply it twice:

- ``MOVED slot host:port``: the slot now lives elsewhere (a migration ended, a
  failover). Refresh the slot map and send it to the new owner.
- ``ASK slot host:port``: the slot is being migrated and this key has already
  left. Send ``ASKING`` and then the command to the target, once; the slot
  map stays as it is until the migration ends.
- ``TRYAGAIN``: a command on several keys whose keys are split between the two
  nodes mid-migration. Wait a moment and send it again.

The helpers here are pure; the cluster drivers in :mod:`.shards` do the IO.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import redis.exceptions

from streamweaver.client._protocol import Batch, Call, Packed
from streamweaver.client._resp import pack_command

REDIRECT_ATTEMPTS = 8
"""How many times one command is sent in all before its redirection is reported."""

TRYAGAIN_PAUSE_S = 0.05
TRYAGAIN_PAUSE_MAX_S = 0.8

ASKING = Call(("ASKING",))
_ASKING = pack_command(("ASKING",))
_MULTI = pack_command(("MULTI",))
_EXEC = pack_command(("EXEC",))


def is_redirect(reply: Any) -> bool:
    """Whether a reply (or raised error) says: not run here, send it again."""
    return isinstance(reply, redis.exceptions.AskError | redis.exceptions.TryAgainError)


def ask_target(reply: Any) -> str | None:
    """``host:port`` to send the command to with ASKING, for an ASK; else None.

    redis-py's MovedError is a subclass of AskError; a MOVED is not an ASK.
    """
    if isinstance(reply, redis.exceptions.MovedError):
        return None
    if isinstance(reply, redis.exceptions.AskError):
        return f"{reply.host}:{reply.port}"
    return None


def is_moved(reply: Any) -> bool:
    return isinstance(reply, redis.exceptions.MovedError)


def tryagain_pause_s(attempt: int) -> float:
    """The wait before sending a TRYAGAIN'd command again, growing per attempt."""
    return min(TRYAGAIN_PAUSE_S * 2**attempt, TRYAGAIN_PAUSE_MAX_S)


def redirected_indices(replies: list[Any]) -> list[int]:
    return [i for i, reply in enumerate(replies) if is_redirect(reply)]


def with_asking(effect: Call | Batch | Packed) -> Call | Batch | Packed:
    """The effect as sent to an ASK target: every command after an ASKING.

    ASKING admits only the next command, except that a MULTI keeps it until
    EXEC; a transaction and a packed request are therefore sent as one
    ``ASKING MULTI ... EXEC``.
    """
    if isinstance(effect, Call):
        return Batch((ASKING, effect))
    if isinstance(effect, Batch) and not effect.transaction:
        return Batch(tuple(c for call in effect.calls for c in (ASKING, call)))
    if isinstance(effect, Batch):
        calls = (ASKING, Call(("MULTI",)), *effect.calls, Call(("EXEC",)))
        return Batch(calls)
    payload = _ASKING + _MULTI + effect.payload + _EXEC
    return Packed(payload, effect.replies + 3, effect.stream)


def from_asking(effect: Call | Batch | Packed, replies: list[Any]) -> Any:
    """The replies to ``effect`` out of the replies to :func:`with_asking`'s.

    An error is raised where the effect itself would raise one (a call, a
    transaction) and left in the list where it would not.
    """
    if isinstance(effect, Call):
        if isinstance(replies[1], Exception):
            raise replies[1]
        return replies[1]
    if isinstance(effect, Batch) and not effect.transaction:
        return replies[1::2]
    queued, executed = replies[2:-1], replies[-1]
    if isinstance(effect, Batch):
        for reply in (*queued, executed):
            if isinstance(reply, Exception):
                raise reply
        return executed
    if isinstance(executed, list):
        return executed
    return [q if isinstance(q, Exception) else executed for q in queued]


def by_target(indices: list[int], replies: list[Any]) -> dict[str | None, list[int]]:
    """Redirected commands of a batch grouped by ASK target (None: the slot map's)."""
    groups: dict[str | None, list[int]] = {}
    for index in indices:
        groups.setdefault(ask_target(replies[index]), []).append(index)
    return groups


def settle_action(redirects: list[Any]) -> tuple[bool, bool]:
    """Before sending again: (refresh the slot map, pause a moment)."""
    moved = any(map(is_moved, redirects))
    tryagain = any(isinstance(r, redis.exceptions.TryAgainError) for r in redirects)
    return moved, tryagain


def xadd_again(
    stream: str, messages: list[Any], replies: list[Any]
) -> Generator[Batch, Any, list[Any]]:
    """Replies to pipelined XADDs, the redirected ones added again as calls.

    ``messages[i]`` is the flat field list of the command ``replies[i]``
    answers. In a migration the redirected commands are the last ones (once a
    key has left, every later command on it is redirected), so adding them
    again in order keeps the stream's order.
    """
    again = redirected_indices(replies)
    if not again:
        return replies
    calls = tuple(Call(("XADD", stream, "*", *messages[i]), stream) for i in again)
    redone = yield Batch(calls)
    replies = list(replies)
    for index, reply in zip(again, redone, strict=True):
        replies[index] = reply
    return replies

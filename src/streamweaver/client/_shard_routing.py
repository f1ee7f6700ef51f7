"""What the cluster drivers share: where an effect goes, and what may go again."""

from __future__ import annotations

from typing import Any

import redis.exceptions

from streamweaver.client import _redirects as rd
from streamweaver.client._protocol import Batch, Call, Effect, Packed
from streamweaver.config import RedisConfig
from streamweaver.connection import connection_kwargs

RETRIED = (Call, Batch, Packed)
"""Effects sent again after a redirection; a channel's replies cannot be."""

CONNECTION_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def stream_of(effect: Effect) -> str | None:
    """The key an effect is routed by (None: any node will do)."""
    if isinstance(effect, Batch):
        return next((c.stream for c in effect.calls if c.stream), None)
    return getattr(effect, "stream", None)


def node_kwargs(config: RedisConfig) -> dict[str, Any]:
    kwargs = connection_kwargs(config)
    for name in ("host", "port", "db"):
        kwargs.pop(name, None)
    return kwargs


def cross_slot_transaction(effect: Effect, keyslot: Any) -> bool:
    if not isinstance(effect, Batch) or not effect.transaction:
        return False
    return len({keyslot(c.stream) for c in effect.calls if c.stream}) > 1


def packed_redirected(effect: Effect, replies: Any) -> bool:
    """Whether a packed request was redirected whole (none of it ran)."""
    return (
        isinstance(effect, Packed)
        and isinstance(replies, list)
        and bool(replies)
        and all(map(rd.is_redirect, replies))
    )


def split(batch: Batch, node_of: Any) -> dict[str, list[int]]:
    """Indices of a batch's calls by the node that serves them, in order."""
    by_node: dict[str, list[int]] = {}
    for index, call in enumerate(batch.calls):
        by_node.setdefault(node_of(call.stream), []).append(index)
    return by_node

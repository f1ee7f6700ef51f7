"""The synchronous cluster driver: each effect on the primary that serves it."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
import redis.exceptions

from streamweaver.client import _redirects as rd
from streamweaver.client import _shard_routing as rt
from streamweaver.client._driver import SyncDriver, raw_replies
from streamweaver.client._protocol import (
    Batch,
    Call,
    Effect,
    Packed,
    Receive,
    Release,
    Send,
)
from streamweaver.config import RedisConfig

log = logging.getLogger(__name__)


class SyncClusterDriver(SyncDriver):
    """Runs operations on Redis Cluster, each effect on the primary of its slot."""

    def __init__(
        self, cluster: redis.RedisCluster, config: RedisConfig, address: str
    ) -> None:
        super().__init__(cluster, address)
        self._kwargs = rt.node_kwargs(config)
        self._nodes: dict[str, SyncDriver] = {}
        self._channels: dict[int, SyncDriver] = {}

    def node_of(self, stream: str | None) -> str:
        """``host:port`` of the primary serving ``stream`` (any node for None)."""
        if stream is None:
            node = self.client.get_default_node()
        else:
            node = self.client.get_node_from_key(stream)
        return f"{node.host}:{node.port}"

    def _execute(self, effect: Effect) -> Any:
        if rt.cross_slot_transaction(effect, self.client.keyslot):
            return [self._execute(call) for call in effect.calls]
        try:
            if isinstance(effect, Batch) and not effect.transaction:
                return self._batch(effect)
            if isinstance(effect, rt.RETRIED):
                return self._one(effect)
            return self._on_node(effect)
        except rt.CONNECTION_ERRORS:
            self._refresh(None)
            raise

    def _one(self, effect: Call | Batch | Packed) -> Any:
        """Send one effect, following its redirections."""
        target = None
        for attempt in range(rd.REDIRECT_ATTEMPTS):
            last = attempt == rd.REDIRECT_ATTEMPTS - 1
            try:
                reply = self._send(effect, target)
            except redis.exceptions.ResponseError as exc:
                if last or not rd.is_redirect(exc):
                    raise
                redirect: Any = exc
            else:
                if last or not rt.packed_redirected(effect, reply):
                    return reply
                redirect = reply[0]
            self._settle([redirect], attempt)
            target = rd.ask_target(redirect)
        raise AssertionError("unreachable")

    def _batch(self, batch: Batch) -> list[Any]:
        """Send a batch's calls to their nodes; redirected ones go again."""
        replies: list[Any] = [None] * len(batch.calls)
        todo: dict[str | None, list[int]] = {None: list(range(len(batch.calls)))}
        for attempt in range(rd.REDIRECT_ATTEMPTS):
            for target, indices in todo.items():
                part = Batch(tuple(batch.calls[i] for i in indices))
                for index, reply in zip(indices, self._part(part, target), strict=True):
                    replies[index] = reply
            again = rd.redirected_indices(replies)
            if not again or attempt == rd.REDIRECT_ATTEMPTS - 1:
                break
            self._settle([replies[i] for i in again], attempt)
            todo = rd.by_target(again, replies)
        return replies

    def _part(self, part: Batch, target: str | None) -> list[Any]:
        if target is not None:
            return self._send(part, target)
        by_node = rt.split(part, self.node_of)
        if len(by_node) == 1:
            return self._on_node(part)
        replies: list[Any] = [None] * len(part.calls)
        for indices in by_node.values():
            piece = Batch(tuple(part.calls[i] for i in indices))
            for index, reply in zip(indices, self._on_node(piece), strict=True):
                replies[index] = reply
        return replies

    def _send(self, effect: Call | Batch | Packed, target: str | None) -> Any:
        if target is None:
            return self._on_node(effect)
        asked = self._driver_for(target)._execute(rd.with_asking(effect))
        return rd.from_asking(effect, asked)

    def _settle(self, redirects: list[Any], attempt: int) -> None:
        refresh, pause = rd.settle_action(redirects)
        if refresh:
            self._refresh(redirects[0])
        if pause:
            time.sleep(rd.tryagain_pause_s(attempt))

    def _on_node(self, effect: Effect) -> Any:
        if isinstance(effect, Release):
            driver = self._channels.pop(id(effect.channel), None)
            return None if driver is None else driver._execute(effect)
        driver = self._driver_for(self.node_of(rt.stream_of(effect)))
        if isinstance(effect, Send):
            before = self._channels.get(id(effect.channel))
            if before is not None and before is not driver:
                before._execute(Release(effect.channel))  # the slot moved
            self._channels[id(effect.channel)] = driver
        if isinstance(effect, Receive):
            driver = self._channels.get(id(effect.channel), driver)
        return driver._execute(effect)

    def _driver_for(self, node: str) -> SyncDriver:
        driver = self._nodes.get(node)
        if driver is None:
            host, _, port = node.rpartition(":")
            client = redis.Redis(host=host, port=int(port), **self._kwargs)
            raw_replies(client)
            driver = self._nodes[node] = SyncDriver(client, node)
        return driver

    def _refresh(self, cause: Any) -> None:
        log.info("Refreshing the cluster's slot map after %s.", cause or "an error")
        self.client.nodes_manager.initialize()

    def close(self) -> None:
        """Close the per-node connections."""
        for driver in self._nodes.values():
            driver.client.close()
        self._nodes.clear()

"""Running the client's operations on Redis Cluster: each effect goes to its shard.

The client's drivers write pipelined RESP straight onto one connection pool,
which a ``RedisCluster`` client does not have. Here every effect is sent to the
primary that serves its stream's slot, through a plain client per node with
raw replies. A non-transactional :class:`Batch` whose commands live on several
nodes is split into one pipeline per node. ``MOVED`` (a slot moved, a failover)
refreshes the slot map and retries; an ``ASK`` (a slot being migrated) is
reported as an error, as is a connection failure, after refreshing the map,
because a write may have been applied before the connection broke.

A transactional :class:`Batch` over several slots (moving a message to its
dead-letter stream: ``XADD <S>:dlq`` and ``XACK <S>``) cannot be one MULTI in a
cluster; its commands run one by one, in order, stopping at the first error.
The dead-letter move is therefore at-least-once there: a crash between the
two leaves the message in ``<S>:dlq`` and still pending in ``<S>``.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
import redis.asyncio
import redis.exceptions

from streamweaver.client._driver import AsyncDriver, SyncDriver, raw_replies
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
from streamweaver.connection import connection_kwargs, is_cluster_client

log = logging.getLogger(__name__)

MOVED_RETRIES = 3
"""Slot-map refreshes tried for one effect before its MOVED is reported."""

_RETRIED = (Call, Batch, Packed)
"""Effects sent again after MOVED; a channel's replies cannot be asked again."""


def sync_driver(client: redis.Redis, config: RedisConfig, address: str) -> SyncDriver:
    """The driver for a client from :func:`streamweaver.connection.connect`."""
    if is_cluster_client(client):
        return SyncClusterDriver(client, config, address)
    raw_replies(client)
    return SyncDriver(client, address)


def async_driver(
    client: redis.asyncio.Redis, config: RedisConfig, address: str
) -> AsyncDriver:
    """The driver for a client from :func:`streamweaver.connection.connect_async`."""
    if is_cluster_client(client):
        return AsyncClusterDriver(client, config, address)
    raw_replies(client)
    return AsyncDriver(client, address)


def close_driver(driver: SyncDriver) -> None:
    """Close the per-node connections of a cluster driver (others have none)."""
    if isinstance(driver, SyncClusterDriver):
        driver.close()


async def aclose_driver(driver: AsyncDriver) -> None:
    """The asyncio twin of :func:`close_driver`."""
    if isinstance(driver, AsyncClusterDriver):
        await driver.aclose()


def stream_of(effect: Effect) -> str | None:
    """The key an effect is routed by (None: any node will do)."""
    if isinstance(effect, Batch):
        return next((c.stream for c in effect.calls if c.stream), None)
    return getattr(effect, "stream", None)


def _node_kwargs(config: RedisConfig) -> dict[str, Any]:
    kwargs = connection_kwargs(config)
    for name in ("host", "port", "db"):
        kwargs.pop(name, None)
    return kwargs


def _moved(reply: Any) -> bool:
    return isinstance(reply, redis.exceptions.MovedError) and not isinstance(
        reply, redis.exceptions.AskError
    )


def _all_moved(replies: Any) -> bool:
    return isinstance(replies, list) and bool(replies) and all(map(_moved, replies))


def _cross_slot_transaction(effect: Effect, keyslot: Any) -> bool:
    if not isinstance(effect, Batch) or not effect.transaction:
        return False
    return len({keyslot(c.stream) for c in effect.calls if c.stream}) > 1


def _split(batch: Batch, node_of: Any) -> dict[str, list[int]]:
    """Indices of a batch's calls by the node that serves them, in order."""
    by_node: dict[str, list[int]] = {}
    for index, call in enumerate(batch.calls):
        by_node.setdefault(node_of(call.stream), []).append(index)
    return by_node


class SyncClusterDriver(SyncDriver):
    """Runs operations on Redis Cluster, each effect on the primary of its slot."""

    def __init__(
        self, cluster: redis.RedisCluster, config: RedisConfig, address: str
    ) -> None:
        super().__init__(cluster, address)
        self._kwargs = _node_kwargs(config)
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
        if _cross_slot_transaction(effect, self.client.keyslot):
            return [self._execute(call) for call in effect.calls]
        if isinstance(effect, Batch) and not effect.transaction:
            by_node = _split(effect, self.node_of)
            if len(by_node) > 1:
                return self._scatter(effect, by_node)
        for _ in range(MOVED_RETRIES):
            try:
                reply = self._on_node(effect)
            except redis.exceptions.MovedError as exc:
                if not _moved(exc) or not isinstance(effect, _RETRIED):
                    raise
                self._refresh(exc)
                continue
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                self._refresh(None)
                raise
            if not isinstance(effect, _RETRIED) or not _all_moved(reply):
                return reply
            self._refresh(reply[0])
        return self._on_node(effect)

    def _scatter(self, batch: Batch, by_node: dict[str, list[int]]) -> list[Any]:
        replies: list[Any] = [None] * len(batch.calls)
        for indices in by_node.values():
            part = Batch(tuple(batch.calls[i] for i in indices))
            for index, reply in zip(indices, self._execute(part), strict=True):
                replies[index] = reply
        return replies

    def _on_node(self, effect: Effect) -> Any:
        if isinstance(effect, Release):
            driver = self._channels.pop(id(effect.channel), None)
            return None if driver is None else driver._execute(effect)
        driver = self._driver_for(self.node_of(stream_of(effect)))
        if isinstance(effect, Send):
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


class AsyncClusterDriver(AsyncDriver):
    """The asyncio twin of :class:`SyncClusterDriver`."""

    def __init__(
        self, cluster: redis.asyncio.RedisCluster, config: RedisConfig, address: str
    ) -> None:
        super().__init__(cluster, address)
        self._kwargs = _node_kwargs(config)
        self._nodes: dict[str, AsyncDriver] = {}
        self._channels: dict[int, AsyncDriver] = {}
        self._ready = False

    async def node_of(self, stream: str | None) -> str:
        """``host:port`` of the primary serving ``stream`` (any node for None)."""
        if not self._ready:
            await self.client.initialize()
            self._ready = True
        if stream is None:
            node = self.client.get_default_node()
        else:
            node = self.client.get_node_from_key(stream)
        return f"{node.host}:{node.port}"

    async def _execute(self, effect: Effect) -> Any:
        if _cross_slot_transaction(effect, self.client.keyslot):
            return [await self._execute(call) for call in effect.calls]
        if isinstance(effect, Batch) and not effect.transaction:
            by_node: dict[str, list[int]] = {}
            for index, call in enumerate(effect.calls):
                by_node.setdefault(await self.node_of(call.stream), []).append(index)
            if len(by_node) > 1:
                return await self._scatter(effect, by_node)
        for _ in range(MOVED_RETRIES):
            try:
                reply = await self._on_node(effect)
            except redis.exceptions.MovedError as exc:
                if not _moved(exc) or not isinstance(effect, _RETRIED):
                    raise
                await self._refresh(exc)
                continue
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                await self._refresh(None)
                raise
            if not isinstance(effect, _RETRIED) or not _all_moved(reply):
                return reply
            await self._refresh(reply[0])
        return await self._on_node(effect)

    async def _scatter(self, batch: Batch, by_node: dict[str, list[int]]) -> list[Any]:
        replies: list[Any] = [None] * len(batch.calls)
        for indices in by_node.values():
            part = Batch(tuple(batch.calls[i] for i in indices))
            for index, reply in zip(indices, await self._execute(part), strict=True):
                replies[index] = reply
        return replies

    async def _on_node(self, effect: Effect) -> Any:
        if isinstance(effect, Release):
            driver = self._channels.pop(id(effect.channel), None)
            return None if driver is None else await driver._execute(effect)
        driver = self._driver_for(await self.node_of(stream_of(effect)))
        if isinstance(effect, Send):
            self._channels[id(effect.channel)] = driver
        if isinstance(effect, Receive):
            driver = self._channels.get(id(effect.channel), driver)
        return await driver._execute(effect)

    def _driver_for(self, node: str) -> AsyncDriver:
        driver = self._nodes.get(node)
        if driver is None:
            host, _, port = node.rpartition(":")
            client = redis.asyncio.Redis(host=host, port=int(port), **self._kwargs)
            raw_replies(client)
            driver = self._nodes[node] = AsyncDriver(client, node)
        return driver

    async def _refresh(self, cause: Any) -> None:
        log.info("Refreshing the cluster's slot map after %s.", cause or "an error")
        await self.client.nodes_manager.initialize()

    async def aclose(self) -> None:
        """Close the per-node connections."""
        for driver in self._nodes.values():
            await driver.client.aclose()
        self._nodes.clear()

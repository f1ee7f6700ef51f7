"""The asyncio cluster driver, the twin of :mod:`._shards_sync`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio
import redis.exceptions

from streamweaver.client import _redirects as rd
from streamweaver.client import _shard_routing as rt
from streamweaver.client._driver import AsyncDriver, raw_replies
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


class AsyncClusterDriver(AsyncDriver):
    """The asyncio twin of :class:`~._shards_sync.SyncClusterDriver`."""

    def __init__(
        self, cluster: redis.asyncio.RedisCluster, config: RedisConfig, address: str
    ) -> None:
        super().__init__(cluster, address)
        self._kwargs = rt.node_kwargs(config)
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
        if rt.cross_slot_transaction(effect, self.client.keyslot):
            return [await self._execute(call) for call in effect.calls]
        try:
            if isinstance(effect, Batch) and not effect.transaction:
                return await self._batch(effect)
            if isinstance(effect, rt.RETRIED):
                return await self._one(effect)
            return await self._on_node(effect)
        except rt.CONNECTION_ERRORS:
            await self._refresh(None)
            raise

    async def _one(self, effect: Call | Batch | Packed) -> Any:
        target = None
        for attempt in range(rd.REDIRECT_ATTEMPTS):
            last = attempt == rd.REDIRECT_ATTEMPTS - 1
            try:
                reply = await self._send(effect, target)
            except redis.exceptions.ResponseError as exc:
                if last or not rd.is_redirect(exc):
                    raise
                redirect: Any = exc
            else:
                if last or not rt.packed_redirected(effect, reply):
                    return reply
                redirect = reply[0]
            await self._settle([redirect], attempt)
            target = rd.ask_target(redirect)
        raise AssertionError("unreachable")

    async def _batch(self, batch: Batch) -> list[Any]:
        replies: list[Any] = [None] * len(batch.calls)
        todo: dict[str | None, list[int]] = {None: list(range(len(batch.calls)))}
        for attempt in range(rd.REDIRECT_ATTEMPTS):
            for target, indices in todo.items():
                part = Batch(tuple(batch.calls[i] for i in indices))
                got = await self._part(part, target)
                for index, reply in zip(indices, got, strict=True):
                    replies[index] = reply
            again = rd.redirected_indices(replies)
            if not again or attempt == rd.REDIRECT_ATTEMPTS - 1:
                break
            await self._settle([replies[i] for i in again], attempt)
            todo = rd.by_target(again, replies)
        return replies

    async def _part(self, part: Batch, target: str | None) -> list[Any]:
        if target is not None:
            return await self._send(part, target)
        by_node: dict[str, list[int]] = {}
        for index, call in enumerate(part.calls):
            by_node.setdefault(await self.node_of(call.stream), []).append(index)
        if len(by_node) == 1:
            return await self._on_node(part)
        replies: list[Any] = [None] * len(part.calls)
        for indices in by_node.values():
            piece = Batch(tuple(part.calls[i] for i in indices))
            got = await self._on_node(piece)
            for index, reply in zip(indices, got, strict=True):
                replies[index] = reply
        return replies

    async def _send(self, effect: Call | Batch | Packed, target: str | None) -> Any:
        if target is None:
            return await self._on_node(effect)
        asked = await self._driver_for(target)._execute(rd.with_asking(effect))
        return rd.from_asking(effect, asked)

    async def _settle(self, redirects: list[Any], attempt: int) -> None:
        refresh, pause = rd.settle_action(redirects)
        if refresh:
            await self._refresh(redirects[0])
        if pause:
            await asyncio.sleep(rd.tryagain_pause_s(attempt))

    async def _on_node(self, effect: Effect) -> Any:
        if isinstance(effect, Release):
            driver = self._channels.pop(id(effect.channel), None)
            return None if driver is None else await driver._execute(effect)
        driver = self._driver_for(await self.node_of(rt.stream_of(effect)))
        if isinstance(effect, Send):
            before = self._channels.get(id(effect.channel))
            if before is not None and before is not driver:
                await before._execute(Release(effect.channel))  # the slot moved
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

"""Running the client's operations on Redis Cluster: each effect goes to its shard.

The client's drivers write pipelined RESP straight onto one connection pool,
which a ``RedisCluster`` client does not have. Here every effect is sent to the
primary that serves its stream's slot, through a plain client per node with
raw replies. A non-transactional :class:`Batch` whose commands live on several
nodes is split into one pipeline per node. Commands that meet a redirection
(``MOVED``, ``ASK``, ``TRYAGAIN``: see :mod:`._redirects`) are sent again where
it points, a few times, and only the redirected ones. A connection failure is
reported, after refreshing the slot map, because a write may have been applied
before the connection broke. Replies read from a channel come back as they
are; the operations that use channels send their redirected commands again as
ordinary calls.

A transactional :class:`Batch` over several slots (moving a message to its
dead-letter stream: ``XADD <S>:dlq`` and ``XACK <S>``) cannot be one MULTI in a
cluster; its commands run one by one, in order, stopping at the first error.
The dead-letter move is therefore at-least-once there: a crash between the
two leaves the message in ``<S>:dlq`` and still pending in ``<S>``.
"""

from __future__ import annotations

import redis
import redis.asyncio

from streamweaver.client._driver import AsyncDriver, SyncDriver, raw_replies
from streamweaver.client._shards_async import AsyncClusterDriver
from streamweaver.client._shards_sync import SyncClusterDriver
from streamweaver.config import RedisConfig
from streamweaver.connection import is_cluster_client


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

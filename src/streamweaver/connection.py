"""The one place that opens Redis connections, for the broker, client and CLI.

redis-py errors are translated here into the :mod:`streamweaver.errors` tree,
with a message an operator can act on ("cannot reach Redis at localhost:6379:
connection refused").
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
import redis.exceptions

from streamweaver.config.model import RedisConfig
from streamweaver.errors import (
    ConnectionFailedError,
    OperationTimeoutError,
    StreamWeaverError,
)

_AUTH_ERRORS = (
    redis.exceptions.AuthenticationError,
    redis.exceptions.AuthenticationWrongNumberOfArgsError,
)


def address_of(config: RedisConfig) -> str:
    """Where Redis is, as ``host:port``, without any credential."""
    if config.nodes:
        return ",".join(config.nodes)
    if config.url is not None:
        url = urlsplit(config.url.get_secret_value())
        if url.scheme == "unix":
            return url.path
        return f"{url.hostname or 'localhost'}:{url.port or 6379}"
    return f"{config.host}:{config.port}"


def connection_kwargs(config: RedisConfig) -> dict[str, Any]:
    """Keyword arguments for a redis-py client, shared by sync and async."""
    kwargs: dict[str, Any] = {
        "socket_connect_timeout": config.connect_timeout_s,
        "health_check_interval": 30,
    }
    if config.username:
        kwargs["username"] = config.username
    if config.password is not None and config.password.get_secret_value():
        kwargs["password"] = config.password.get_secret_value()
    if config.url is None:
        kwargs.update(host=config.host, port=config.port, db=config.db)
    if config.tls.enabled:
        kwargs.update(
            ssl=True,
            ssl_ca_certs=_str(config.tls.ca_file),
            ssl_certfile=_str(config.tls.cert_file),
            ssl_keyfile=_str(config.tls.key_file),
            ssl_cert_reqs=ssl.CERT_REQUIRED if config.tls.verify else ssl.CERT_NONE,
        )
    return kwargs


def connect(config: RedisConfig) -> redis.Redis:
    """A synchronous redis-py client for the configured server or cluster.

    Replies are bytes. For a cluster this is a ``RedisCluster``, which offers
    the same commands and routes each by its key's slot.
    """
    kwargs = connection_kwargs(config)
    if config.is_cluster:
        return _cluster(redis.RedisCluster, redis.cluster.ClusterNode, config, kwargs)
    if config.url is not None:
        return redis.Redis.from_url(config.url.get_secret_value(), **kwargs)
    return redis.Redis(**kwargs)


def connect_async(config: RedisConfig) -> redis.asyncio.Redis:
    """An asyncio redis-py client for the configured server or cluster."""
    kwargs = connection_kwargs(config)
    if config.is_cluster:
        # Every few MOVED replies redis-py's asyncio cluster client closes all
        # its connections to re-read the slot map, under the feet of commands
        # other tasks are running ("'NoneType' object has no attribute
        # 'writelines'" during a slot migration). Without that it patches the
        # map from each MOVED reply, and still re-reads it after a failover.
        kwargs["reinitialize_steps"] = 0
        return _cluster(
            redis.asyncio.RedisCluster,
            redis.asyncio.cluster.ClusterNode,
            config,
            kwargs,
        )
    if config.url is not None:
        return redis.asyncio.Redis.from_url(config.url.get_secret_value(), **kwargs)
    return redis.asyncio.Redis(**kwargs)


def _cluster(factory: Any, node: Any, config: RedisConfig, kwargs: dict) -> Any:
    kwargs.pop("db", None)
    kwargs.pop("health_check_interval", None)
    if config.nodes:
        seeds = [node(*_split(n)) for n in config.nodes]
        return factory(startup_nodes=seeds, **_without_address(kwargs))
    if config.url is not None:
        return factory.from_url(config.url.get_secret_value(), **kwargs)
    return factory(**kwargs)


def _split(node: str) -> tuple[str, int]:
    host, _, port = node.rpartition(":")
    return host, int(port)


def _without_address(kwargs: dict) -> dict:
    return {k: v for k, v in kwargs.items() if k not in ("host", "port")}


def translate(exc: redis.exceptions.RedisError, address: str) -> StreamWeaverError:
    """Turn a redis-py connection-level error into one of ours."""
    if isinstance(exc, _AUTH_ERRORS):
        return ConnectionFailedError(
            f"Redis at {address} refused the credentials: {exc}", address=address
        )
    if isinstance(exc, redis.exceptions.TimeoutError):
        return OperationTimeoutError(f"Redis at {address} did not answer in time")
    return ConnectionFailedError(
        f"cannot reach Redis at {address}: {describe_reason(exc)}", address=address
    )


def describe_reason(exc: BaseException) -> str:
    """The short cause of a connection failure, such as ``connection refused``."""
    # redis-py words it "Error 111 connecting to host:port. Connection refused."
    # (the asyncio client: "... Connect call failed ('host', port)."); a
    # positive number is an errno, whose standard text is clearest.
    text = str(exc).strip()
    errno = re.match(r"Error (\d+) connecting", text)
    if errno:
        return os.strerror(int(errno.group(1))).lower()
    reason = text.rstrip(".").rsplit(". ", 1)[-1]
    return reason[:1].lower() + reason[1:] if reason else type(exc).__name__


@contextmanager
def translated(address: str) -> Iterator[None]:
    """Translate connection-level redis-py errors raised inside the block."""
    try:
        yield
    except (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.AuthenticationError,
    ) as exc:
        raise translate(exc, address) from exc


def _str(value: object) -> str | None:
    return None if value is None else str(value)


SLOT_MOVING_ERRORS = (
    redis.exceptions.TryAgainError,
    redis.exceptions.AskError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.SlotNotCoveredError,
)
"""Replies of Redis Cluster while a slot moves or a replica takes over."""


def is_slot_moving(exc: object) -> bool:
    """Tell whether an error, or one it was raised from, means a slot is moving.

    That is a redirection or TRYAGAIN reply, or redis-py giving up after too
    many redirections ("TTL exhausted"); the command can be retried later.
    """
    while exc is not None:
        if isinstance(exc, SLOT_MOVING_ERRORS):
            return True
        if type(exc) is redis.exceptions.ClusterError:
            return True  # redis-py's "TTL exhausted": redirected too many times
        exc = getattr(exc, "__cause__", None)
    return False


def is_cluster_client(client: object) -> bool:
    """Tell a Redis Cluster client from a single-server one."""
    return isinstance(client, redis.RedisCluster | redis.asyncio.RedisCluster)


async def run_script_many(
    client: redis.asyncio.Redis,
    script: Any,
    calls: Sequence[tuple[Sequence[Any], Sequence[Any]]],
    *,
    concurrency: int = 32,
    return_exceptions: bool = False,
) -> list[Any]:
    """Run one Lua script for many ``(keys, args)`` in few round trips.

    A single server takes them in one pipeline. Redis Cluster pipelines refuse
    scripts, so there each call is sent on its own, a bounded number at a time.
    With ``return_exceptions`` a call that failed gives its exception in the
    list instead of raising.
    """
    if not calls:
        return []
    if not is_cluster_client(client):
        pipe = client.pipeline(transaction=False)
        for script_keys, args in calls:
            await script(keys=script_keys, args=args, client=pipe)
        return await pipe.execute(raise_on_error=not return_exceptions)
    limit = asyncio.Semaphore(concurrency)

    async def one(script_keys: Sequence[Any], args: Sequence[Any]) -> Any:
        async with limit:
            return await script(keys=script_keys, args=args)

    replies = asyncio.gather(
        *(one(k, a) for k, a in calls), return_exceptions=return_exceptions
    )
    return list(await replies)

"""The one place that opens Redis connections, for the broker, client and CLI.

redis-py errors are translated here into the :mod:`streamweaver.errors` tree,
with a message an operator can act on ("cannot reach Redis at localhost:6379:
connection refused").
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
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
    """A synchronous redis-py client for the configured server (bytes replies)."""
    kwargs = connection_kwargs(config)
    if config.url is not None:
        return redis.Redis.from_url(config.url.get_secret_value(), **kwargs)
    return redis.Redis(**kwargs)


def connect_async(config: RedisConfig) -> redis.asyncio.Redis:
    """An asyncio redis-py client for the configured server (bytes replies)."""
    kwargs = connection_kwargs(config)
    if config.url is not None:
        return redis.asyncio.Redis.from_url(config.url.get_secret_value(), **kwargs)
    return redis.asyncio.Redis(**kwargs)


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
    reason = str(exc).strip().rstrip(".").rsplit(". ", 1)[-1]
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

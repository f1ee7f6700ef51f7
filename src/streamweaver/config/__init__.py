"""Broker configuration: the schema and the loader."""

from streamweaver.config.load import ENV_SECRETS, config_from_mapping, load_config
from streamweaver.config.model import (
    ArchiveConfig,
    Config,
    MonitoringConfig,
    RedisConfig,
    ReplayConfig,
    RetentionConfig,
    StorageConfig,
    StreamsConfig,
)

__all__ = [
    "ENV_SECRETS",
    "ArchiveConfig",
    "Config",
    "MonitoringConfig",
    "RedisConfig",
    "ReplayConfig",
    "RetentionConfig",
    "StorageConfig",
    "StreamsConfig",
    "config_from_mapping",
    "load_config",
]

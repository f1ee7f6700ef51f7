from pathlib import Path

import pytest

from streamweaver.config import config_from_mapping, load_config
from streamweaver.config.load import redacted
from streamweaver.errors import ConfigError

ROOT = Path(__file__).parents[2]


def test_the_original_brokers_example_config_loads_unchanged():
    config = load_config(ROOT / "config.example.yml")

    assert config.redis.stream_max_length == 1_000_000
    assert config.storage.type == "s3"
    assert config.storage.s3.bucket == "streamweaver-archive"
    assert config.retention.max_age_s == 7 * 86400
    assert config.retention.max_size_bytes == 5 * 10**9
    assert config.replay.max_replay_batch_size == 1000
    assert config.monitoring.port == 8080


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"retention": {"max_agee": "7d"}},
            "retention.max_agee: unknown key; did you mean 'max_age'",
        ),
        ({"redis": {"port": "abc"}}, "redis.port: input should be a valid integer"),
        ({"retention": {"max_age": "7x"}}, "retention.max_age: '7x' is not a duration"),
        (
            {"storage": {"type": "s3"}},
            "storage.s3.bucket: required because storage.type is s3",
        ),
        (
            {"storage": {"type": "ftp"}},
            "storage.type: input should be 'local', 'block' or 's3'",
        ),
        (
            {"storage": {"type": "block"}},
            "storage.block.path: required because storage.type is block",
        ),
        ({"retention": {"max_size": "5XB"}}, "retention.max_size: '5XB' is not a size"),
        ({"redis": {"url": "http://x"}}, "redis.url: scheme 'http' is not supported"),
        (
            {"monitoring": {"port": 70000}},
            "monitoring.port: input should be less than or equal to 65535",
        ),
        (
            {"streams": {"overrides": {"o*": {"max_ag": "1d"}}}},
            "streams.overrides.o*.max_ag: unknown key",
        ),
        (
            {"replay": {"enabled": "perhaps"}},
            "replay.enabled: input should be a valid boolean",
        ),
    ],
)
def test_each_bad_config_fails_with_one_line_naming_the_key(raw, expected):
    with pytest.raises(ConfigError) as info:
        config_from_mapping(raw, source="config.yml")

    message = str(info.value)
    assert message.startswith(f"config.yml: {expected}")
    assert "\n" not in message


def test_secrets_never_appear_in_errors():
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"storage": {"s3": {"secret_key": ["hunter2"]}}})

    assert "hunter2" not in str(info.value)
    assert "<redacted>" in str(info.value)


def test_secrets_are_masked_in_the_effective_config():
    config = config_from_mapping(
        {"redis": {"password": "hunter2", "url": "redis://:hunter2@h:1"}}
    )

    assert "hunter2" not in repr(redacted(config))
    assert "hunter2" not in repr(config)


def test_secrets_come_from_the_environment_and_win_over_the_file():
    config = config_from_mapping(
        {"redis": {"password": "from-file"}},
        environ={
            "STREAMWEAVER_REDIS_PASSWORD": "from-env",
            "STREAMWEAVER_S3_SECRET_KEY": "s3-secret",
        },
    )

    assert config.redis.password.get_secret_value() == "from-env"
    assert config.storage.s3.secret_key.get_secret_value() == "s3-secret"


def test_a_missing_file_and_bad_yaml_get_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.yml")

    broken = tmp_path / "broken.yml"
    broken.write_text("redis:\n  host: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: not valid YAML"):
        load_config(broken)

    listed = tmp_path / "list.yml"
    listed.write_text("- redis\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listed)


def test_an_empty_file_gives_the_defaults(tmp_path):
    empty = tmp_path / "empty.yml"
    empty.write_text("")

    config = load_config(empty)

    assert config.storage.type == "local"
    assert config.monitoring.port == 8080


def test_tls_accepts_a_flag_or_a_section():
    assert config_from_mapping({"redis": {"tls": True}}).redis.tls.enabled
    tls = config_from_mapping({"redis": {"tls": {"enabled": True, "verify": False}}})
    assert tls.redis.tls.verify is False


def test_durations_round_trip_through_the_effective_config():
    config = config_from_mapping({"retention": {"max_age": "36h"}})

    dumped = redacted(config)

    assert dumped["retention"]["max_age"] == "129600s"
    assert config_from_mapping(dumped).retention.max_age_s == 36 * 3600


def test_a_cluster_config_takes_seed_nodes_and_only_database_zero():
    config = config_from_mapping({"redis": {"nodes": ["10.0.0.5:6379", "h:7000"]}})
    assert config.redis.is_cluster

    with pytest.raises(ConfigError, match=r"redis.db: must be 0 because Redis Cluster"):
        config_from_mapping({"redis": {"cluster": True, "db": 2}})
    with pytest.raises(ConfigError, match=r"redis.nodes: 'abc' is not host:port"):
        config_from_mapping({"redis": {"nodes": ["abc"]}})

"""``streamweaver replay`` and ``streamweaver replays`` through click's CliRunner."""

import json

import pytest
import yaml
from click.testing import CliRunner

from streamweaver.cli.replay import replay, replays

from waiting import wait_for


@pytest.fixture
def config_file(redis_server, tmp_path) -> str:
    # --config rather than --redis-url: the shared --redis-url option fails to
    # rebuild the Redis section (its connect_timeout dumps as a bare number).
    path = tmp_path / "cli.yml"
    path.write_text(
        yaml.safe_dump(
            {"redis": {"host": redis_server.host, "port": redis_server.port}}
        )
    )
    return str(path)


def produce(r, count):
    pipe = r.pipeline(transaction=False)
    for n in range(count):
        pipe.xadd("orders", {"n": str(n)})
    return pipe.execute()


def test_replay_with_wait_prints_a_summary_and_copies_the_range(
    r, broker_thread, config_file
):
    broker_thread()
    ids = produce(r, 300)

    result = CliRunner().invoke(
        replay,
        [
            *("orders", "--from", ids[10].decode(), "--to", ids[19].decode()),
            *("--target", "fixed", "--wait", "--config", config_file),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "Replayed 10 message(s) of 'orders'" in result.output
    assert "into 'fixed'" in result.output
    assert [i for i, _ in r.xrange("fixed")] == ids[10:20]


def test_replay_without_wait_names_the_job_and_where_to_watch_it(
    r, broker_thread, config_file
):
    broker_thread()
    produce(r, 5)

    result = CliRunner().invoke(
        replay, ["orders", "--id", "cli-1", "--config", config_file]
    )

    assert result.exit_code == 0, result.output
    assert "Replay cli-1" in result.output
    assert "HGETALL sw:replay:job:cli-1" in result.output
    wait_for(lambda: r.hget("sw:replay:job:cli-1", "state") == b"done")


def test_a_malformed_time_fails_with_one_line_and_sends_nothing(r, config_file):
    result = CliRunner().invoke(
        replay, ["orders", "--from", "tuesday", "--config", config_file]
    )

    assert result.exit_code != 0
    assert "'from': 'tuesday' is neither a stream ID nor a time" in result.output
    assert "Traceback" not in result.output
    assert not r.exists("sw:control")


def test_a_refused_replay_exits_non_zero_with_the_reason(r, broker_thread, config_file):
    broker_thread()
    produce(r, 5)
    r.set("plain", "x")

    result = CliRunner().invoke(
        replay, ["orders", "--target", "plain", "--wait", "--config", config_file]
    )

    assert result.exit_code == 1
    assert "target 'plain' is a string, not a stream" in result.output
    assert r.get("plain") == b"x"


def test_replays_lists_shows_and_cancels_jobs(r, broker_thread, config_file):
    broker_thread()
    produce(r, 500)
    runner = CliRunner()
    started = runner.invoke(
        replay, ["orders", "--id", "slow", "--rate", "50", "--config", config_file]
    )
    assert started.exit_code == 0, started.output

    listed = runner.invoke(replays, ["list", "--json", "--config", config_file])
    cancelled = runner.invoke(replays, ["cancel", "slow", "--config", config_file])
    wait_for(lambda: r.hget("sw:replay:job:slow", "state") == b"cancelled")
    shown = runner.invoke(replays, ["show", "slow", "--config", config_file])

    assert [job["id"] for job in json.loads(listed.output)] == ["slow"]
    assert "Asked the broker to cancel replay slow" in cancelled.output
    assert json.loads(shown.output)["state"] == "cancelled"

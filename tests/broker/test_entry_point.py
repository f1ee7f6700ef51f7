"""``streamweaver-broker`` as an operator runs it: config errors, JSON logs, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from streamweaver.embedded import free_port

from waiting import wait_for

BROKER = [sys.executable, "-m", "streamweaver.broker.main"]


def run_broker(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BROKER, *args], cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_a_bad_config_stops_the_broker_before_it_starts_with_one_line(tmp_path):
    config = tmp_path / "config.yml"
    config.write_text("retention:\n  max_age: 7x\n")

    broker = run_broker("--config", str(config), cwd=tmp_path)
    _, stderr = broker.communicate(timeout=30)

    assert broker.returncode == 2
    assert stderr.strip().splitlines() == [
        f"streamweaver-broker: {config}: retention.max_age: '7x' is not a duration; "
        "use a number and a unit (ms, s, m, h, d, w), for example 30s, 15m or 7d"
    ]


def test_the_broker_logs_json_lines_and_exits_zero_on_sigterm(tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "redis": {"embedded": True, "port": free_port(), "data_dir": "valkey"},
                "storage": {"local": {"path": "archive"}},
                "monitoring": {"enabled": False},
            }
        )
    )
    broker = run_broker("--config=" + str(config), "--log-format", "json", cwd=tmp_path)
    lines: list[dict] = []

    def started() -> bool:
        lines.append(json.loads(broker.stderr.readline()))
        return "started" in lines[-1]["message"]

    wait_for(started, timeout_s=30)
    broker.send_signal(signal.SIGTERM)
    _, rest = broker.communicate(timeout=30)

    assert broker.returncode == 0
    records = lines + [json.loads(line) for line in rest.splitlines()]
    assert {"time", "level", "name", "message"} <= set(records[0])
    messages = [record["message"] for record in records]
    assert any(m.startswith("Broker ") and m.endswith(" stopped.") for m in messages)
    assert messages[-1].startswith("Stopped the embedded server")
    assert (tmp_path / "valkey" / "appendonlydir").is_dir()

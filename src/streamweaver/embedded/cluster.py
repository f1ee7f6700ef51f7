"""A local Redis Cluster of embedded Valkey servers, for tests and benchmarks.

The nodes are real valkey-server processes on free ports, joined with
``valkey-cli --cluster create`` (the tool that ships beside the server).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from pathlib import Path

import redis

from streamweaver.embedded.server import (
    EmbeddedServer,
    EmbeddedServerError,
    valkey_binary,
)


class EmbeddedCluster:
    """``primaries`` primaries with ``replicas`` replicas each, on loopback."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        primaries: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 1000,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.replicas = replicas
        self.nodes = [
            EmbeddedServer(
                self.data_dir / f"node-{n}",
                port=_cluster_port(),
                appendonly=True,
                extra_args=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(node_timeout_ms),
                    "--cluster-replica-validity-factor",
                    "0",
                ),
            )
            for n in range(primaries * (1 + replicas))
        ]

    @property
    def startup_nodes(self) -> list[str]:
        return [f"{node.host}:{node.port}" for node in self.nodes]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout_s: float = 30.0) -> EmbeddedCluster:
        """Start every node, create the cluster and wait until it serves all slots."""
        for node in self.nodes:
            node.start()
        cli = valkey_binary().with_name("valkey-cli")
        result = subprocess.run(
            [str(cli), "--cluster", "create", *self.startup_nodes,
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            self.stop()
            raise EmbeddedServerError(f"cluster create failed: {result.stdout[-500:]}")
        self.wait_healthy(timeout_s)
        return self

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        """Wait until every running node reports ``cluster_state:ok``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self._state_ok(node) for node in self.nodes if node.running):
                return
            time.sleep(0.1)
        raise EmbeddedServerError(f"the cluster was not healthy within {timeout_s}s")

    def primary_for(self, key: str) -> EmbeddedServer:
        """The node that serves ``key``'s slot now."""
        with redis.RedisCluster.from_url(self.url) as client:
            node = client.get_node_from_key(key)
        for server in self.nodes:
            if server.port == node.port:
                return server
        raise EmbeddedServerError(f"no node serves {key!r}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @staticmethod
    def _state_ok(node: EmbeddedServer) -> bool:
        try:
            with redis.Redis(host=node.host, port=node.port, socket_timeout=1) as c:
                return c.cluster("info").get("cluster_state") == "ok"
        except redis.exceptions.RedisError:
            return False


def _cluster_port(host: str = "127.0.0.1") -> int:
    """A free port whose cluster-bus twin (port + 10000) is free as well."""
    while True:
        port = random.randint(20000, 55000)
        if all(_is_free(host, p) for p in (port, port + 10000)):
            return port


def _is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True

"""Helpers for the scale and failure tests: groups of broker processes, leases.

Import as ``from scale.support import ...`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from broker.harness import BrokerProcess, archived_by_duckdb
from streamweaver import keys


def lease_owners(client: redis.Redis, streams: list[str]) -> dict[str, str | None]:
    """The live owner of each stream's lease, None where it is free or expired."""
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.hmget(keys.stream_lease(stream), "owner", "expires_ms")
    owners: dict[str, str | None] = {}
    for stream, (owner, expires_ms) in zip(streams, pipe.execute(), strict=True):
        live = owner and expires_ms is not None and int(expires_ms) > now_ms
        owners[stream] = owner.decode() if live else None
    return owners


def owned_counts(owners: dict[str, str | None]) -> Counter[str]:
    """How many streams each instance owns (free streams are not counted)."""
    return Counter(owner for owner in owners.values() if owner is not None)


def broker_group(
    config: dict[str, Any], workdir: Path, count: int, *, prefix: str = "b"
) -> list[BrokerProcess]:
    """``count`` brokers sharing one config, each with its own ``instance_id``."""
    brokers = []
    for n in range(count):
        own = copy.deepcopy(config)
        own.setdefault("broker", {})["instance_id"] = f"{prefix}{n}"
        brokers.append(BrokerProcess(own, workdir, name=f"{prefix}{n}"))
    return brokers


@contextmanager
def running(brokers: list[BrokerProcess]) -> Iterator[list[BrokerProcess]]:
    """Start every broker; on exit stop the ones still running (kill after 15 s)."""
    for broker in brokers:
        broker.start()
    try:
        yield brokers
    finally:
        for broker in brokers:
            broker.stop()


class Producer:
    """Adds numbered messages to streams from a thread until stopped.

    Each stream's messages carry ``n`` = 0, 1, 2, ... in production order.
    ``acked`` holds ``{stream: {id: n}}`` for every XADD Redis answered; a
    batch that failed (a failover, say) is not retried: its numbers are
    skipped, and whatever of it Redis kept is found by reading Redis back.
    With ``wait_replicas`` each batch ends with ``WAIT``, on the same
    connection, so an acknowledged batch is on that many replicas.
    """

    def __init__(
        self,
        client: redis.Redis,
        streams: list[str],
        *,
        batch: int = 20,
        pause_s: float = 0.02,
        wait_replicas: int = 0,
    ) -> None:
        self._client = client
        self._streams = streams
        self._batch = batch
        self._pause_s = pause_s
        self._wait_replicas = wait_replicas
        self.acked: dict[str, dict[str, int]] = {s: {} for s in streams}
        self.attempted: dict[str, int] = dict.fromkeys(streams, 0)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def total(self) -> int:
        return sum(len(entries) for entries in self.acked.values())

    def start(self) -> Producer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            for stream in self._streams:
                try:
                    self._add(stream)
                except redis.exceptions.RedisError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    self._refresh()
                    time.sleep(0.1)
            time.sleep(self._pause_s)

    def _add(self, stream: str) -> None:
        start = self.attempted[stream]
        numbers = range(start, start + self._batch)
        self.attempted[stream] += self._batch
        pipe = self._pipeline(stream)
        for n in numbers:
            pipe.xadd(stream, {"n": str(n), "body": "x" * 100})
        if self._wait_replicas:
            pipe.execute_command("WAIT", self._wait_replicas, 2000)
        replies = pipe.execute()
        if self._wait_replicas and replies[-1] < self._wait_replicas:
            raise redis.exceptions.RedisError("WAIT: the replica did not confirm")
        for n, entry_id in zip(numbers, replies, strict=False):
            self.acked[stream][_text(entry_id)] = n

    def _pipeline(self, stream: str):
        if not isinstance(self._client, redis.RedisCluster):
            return self._client.pipeline(transaction=False)
        # WAIT counts the writes of its own connection, so the batch goes to
        # the stream's primary on one connection, as a plain pipeline.
        node = self._client.get_node_from_key(stream)
        return self._client.get_redis_connection(node).pipeline(transaction=False)

    def _refresh(self) -> None:
        if isinstance(self._client, redis.RedisCluster):
            # A failover or a moved slot: learn the new layout (or try again).
            with contextlib.suppress(redis.exceptions.RedisError):
                self._client.nodes_manager.initialize()


def in_redis_numbers(client: redis.Redis, stream: str) -> list[int]:
    """``n`` of every entry of ``stream`` still in Redis, in ID order."""
    return [int(fields[b"n"]) for _, fields in client.xrange(stream, "-", "+")]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def assert_exactly_once(
    client: redis.Redis, archive_dir: Path, stream: str, acked: dict[str, int]
) -> dict[str, int]:
    """Archive plus Redis hold each message once, in order, and every acked one.

    Returns ``{id: n}`` of everything that survived (archive or Redis).
    """
    rows = archived_by_duckdb(archive_dir, stream)
    archived = dict(rows)
    assert len(archived) == len(rows), f"{stream}: an ID is archived twice"
    numbers = [n for _, n in rows]
    assert numbers == sorted(set(numbers)), f"{stream}: archive repeats or reorders"
    live = {_text(i): int(f[b"n"]) for i, f in client.xrange(stream, "-", "+")}
    for entry_id in archived.keys() & live.keys():
        assert archived[entry_id] == live[entry_id]
    survived = archived | live
    assert len(set(survived.values())) == len(survived), f"{stream}: n twice"
    missing = acked.keys() - survived.keys()
    assert not missing, f"{stream}: {len(missing)} acknowledged message(s) lost"
    return survived

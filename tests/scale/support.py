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
import redis.cluster

from broker.harness import BrokerProcess, archived_by_duckdb
from streamweaver import keys

_CLUSTER_ERRORS = (
    redis.exceptions.RedisError,
    redis.exceptions.RedisClusterException,
)


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
                except _CLUSTER_ERRORS as exc:
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
            pipe.execute_command("WAIT", self._wait_replicas, 500)
        replies = pipe.execute(raise_on_error=False)
        confirmed = True
        if self._wait_replicas:
            waited = replies.pop()
            confirmed = isinstance(waited, int) and waited >= self._wait_replicas
        failed = [r for r in replies if isinstance(r, Exception)]
        if confirmed:
            for n, entry_id in zip(numbers, replies, strict=True):
                if not isinstance(entry_id, Exception):
                    self.acked[stream][_text(entry_id)] = n
        if failed or not confirmed:
            raise redis.exceptions.RedisError(
                f"{len(failed)} of {self._batch} XADD(s) failed, e.g. {failed[:1]}; "
                f"replicas confirmed: {confirmed}"
            )

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
            with contextlib.suppress(_CLUSTER_ERRORS):
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


def cluster_client(cluster) -> redis.RedisCluster:
    """A cluster client seeded with every node, so it survives losing any one."""
    seeds = [redis.cluster.ClusterNode(n.host, n.port) for n in cluster.nodes]
    return redis.RedisCluster(startup_nodes=seeds)


def serving_port(client: redis.RedisCluster, key: str) -> int:
    """The port of the primary serving ``key`` now, per a fresh slot map."""
    client.nodes_manager.initialize()
    return client.get_node_from_key(key).port


def archived_total(client: redis.Redis, streams: list[str]) -> int:
    """Messages archived so far over ``streams``, per the archive state hashes."""
    return sum(
        int(client.hget(keys.archive_state(s), "archived_messages") or 0)
        for s in streams
    )


def last_generated_id(client: redis.Redis, stream: str) -> str:
    return _text(client.xinfo_stream(stream)["last-generated-id"])


def migrate_slot(
    cluster, slot: int, source, target, *, pause_s: float = 0.0, first=()
) -> int:
    """Move ``slot`` from the ``source`` node to ``target`` while clients work.

    The steps ``valkey-cli --cluster reshard`` takes: mark the slot IMPORTING
    on the target and MIGRATING on the source, MIGRATE its keys in batches
    (clients get ASK for keys already moved), then assign the slot to the
    target on every primary. With ``pause_s`` the keys move one at a time,
    that long apart, so clients meet a slot whose keys are split between the
    two nodes (TRYAGAIN for commands on several keys). The keys in ``first``
    move before the others. Returns how many keys moved.
    """
    src = redis.Redis(host=source.host, port=source.port)
    dst = redis.Redis(host=target.host, port=target.port)
    src_id = _text(src.execute_command("CLUSTER", "MYID"))
    dst_id = _text(dst.execute_command("CLUSTER", "MYID"))
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    moved = 0
    for key in first:
        src.execute_command("MIGRATE", target.host, target.port, key, 0, 10_000)
        moved += 1
        time.sleep(pause_s)
    batch = 1 if pause_s else 100
    while found := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch):
        src.execute_command(
            "MIGRATE", target.host, target.port, "", 0, 10_000, "KEYS", *found
        )
        moved += len(found)
        time.sleep(pause_s)
    for node in [target, source, *cluster.nodes]:
        if node.running:
            with redis.Redis(host=node.host, port=node.port) as each:
                each.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    src.close()
    dst.close()
    return moved

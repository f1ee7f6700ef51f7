"""Cluster scaling benchmark (not a test): a 6-partition stream, 1 server vs 3 shards.

    uv run python bench/bench_cluster.py            # 1.2M messages, ~1 minute
    uv run python bench/bench_cluster.py --quick    # 240k messages

In one run, for each setup (one embedded Valkey; a 3-primary embedded cluster):

1. produce: ``--producers`` processes, each with its own ``Client``, send
   batches of 1,000 messages (round-robin over the partitions) to the logical
   stream; aggregate messages per second from a common start to the last end;
2. archive: ``--brokers`` ``streamweaver-broker`` processes archive the six
   partitions (which are ordinary streams to them) to local disk, in segments
   of 20,000 messages; aggregate messages per second from when every broker has
   registered until every partition's ``archived_until`` is its last ID.

It prints both setups, the cluster-to-single ratios and the CPU time each kind
of process used, which shows where the cores went. Messages carry one 200-byte
field, as in bench_archive.py.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from broker.harness import BrokerProcess, fast_config  # noqa: E402
from streamweaver import keys  # noqa: E402
from streamweaver.client import Client  # noqa: E402
from streamweaver.config import RedisConfig  # noqa: E402
from streamweaver.embedded import EmbeddedServer  # noqa: E402
from streamweaver.embedded.cluster import EmbeddedCluster  # noqa: E402

STREAM = "bench"
PARTITIONS = 6
BATCH = 1000
BODY_BYTES = 200
SEGMENT_MESSAGES = 20_000


def producer(redis_section: dict, n: int, start: Any, done: Any) -> None:
    """One producer process: wait for the start, send n messages, report CPU."""
    body = os.urandom(BODY_BYTES // 2).hex()
    with Client(RedisConfig(**redis_section)) as client:
        client.ping()
        client.partitions(STREAM)
        messages = [{"body": body}] * BATCH
        start.wait()
        cpu = time.process_time()
        for offset in range(0, n, BATCH):
            client.produce_batch(STREAM, messages[: min(BATCH, n - offset)])
        done.put((time.perf_counter(), time.process_time() - cpu))


def produce(redis_section: dict, n: int, producers: int) -> tuple[float, float, float]:
    """Aggregate messages per second, wall seconds and the producers' CPU seconds."""
    context = multiprocessing.get_context("spawn")
    start, done = context.Event(), context.Queue()
    share = n // producers
    processes = [
        context.Process(target=producer, args=(redis_section, share, start, done))
        for _ in range(producers)
    ]
    for process in processes:
        process.start()
    time.sleep(2)  # spawned interpreters import the client before the start
    began = time.perf_counter()
    start.set()
    results = [done.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    elapsed = max(at for at, _ in results) - began
    return share * producers / elapsed, elapsed, sum(cpu for _, cpu in results)


def archive(
    redis_section: dict, work: Path, brokers: int
) -> tuple[float, float, float]:
    """Aggregate archival messages per second, wall seconds, brokers' CPU seconds."""
    partitions = Client(RedisConfig(**redis_section))
    names = partitions.partitions(STREAM).names
    partitions.close()
    lookup = _client(redis_section)
    last = {name: lookup.xrevrange(name, "+", "-", count=1)[0][0] for name in names}
    total = sum(lookup.xlen(name) for name in names)
    config = fast_config(0, work / "archive")
    config["redis"] = redis_section
    # Segments that fill within the run; the default 100,000 would wait for
    # segment_max_age (60 s) on a partition's tail instead.
    config["archive"] = {
        "read_batch": 1000,
        "segment_max_messages": SEGMENT_MESSAGES,
        "segment_max_age": "1s",
    }
    processes = [
        BrokerProcess(config, work / f"broker-{i}", name=f"broker-{i}")
        for i in range(brokers)
    ]
    for process in processes:
        process.start()
    try:
        # Timed from when every broker has registered: not the interpreter start.
        while lookup.zcard(keys.INSTANCES) < brokers:
            time.sleep(0.01)
        began = time.perf_counter()
        cpu_before = sum(_cpu_seconds(process.pid) for process in processes)
        while any(
            lookup.hget(keys.archive_state(name), "archived_until") != last[name]
            for name in names
        ):
            if time.perf_counter() - began > 900:
                raise RuntimeError("the brokers did not archive everything in 15 min")
            time.sleep(0.1)
        elapsed = time.perf_counter() - began
        cpu = sum(_cpu_seconds(process.pid) for process in processes) - cpu_before
    finally:
        for process in processes:
            process.stop()
        lookup.close()
    return total / elapsed, elapsed, cpu


def run_setup(
    title: str, redis_section: dict, nodes: list[redis.Redis], args, work: Path
) -> dict:
    with Client(RedisConfig(**redis_section)) as client:
        client.declare_partitions(STREAM, PARTITIONS)
    valkey_before = sum(_valkey_cpu(node) for node in nodes)
    produced, produce_s, producer_cpu = produce(
        redis_section, args.messages, args.producers
    )
    valkey_mid = sum(_valkey_cpu(node) for node in nodes)
    archived, archive_s, broker_cpu = archive(redis_section, work, args.brokers)
    valkey_after = sum(_valkey_cpu(node) for node in nodes)
    _report(title, "produce", produced, produce_s, "producers", producer_cpu,
            valkey_mid - valkey_before)  # fmt: skip
    _report("", "archive", archived, archive_s, "brokers", broker_cpu,
            valkey_after - valkey_mid)  # fmt: skip
    return {"produce": produced, "archive": archived}


def _report(
    title: str, phase: str, rate: float, wall_s: float, who: str, cpu_s: float,
    valkey_s: float,
) -> None:  # fmt: skip
    busy = (cpu_s + valkey_s) / wall_s
    print(
        f"{title:<18} {phase} {rate:>9,.0f} msg/s in {wall_s:5.2f} s; CPU s: "
        f"{who} {cpu_s:4.1f}, Valkey {valkey_s:4.1f}; cores busy {busy:.2f}"
    )


def _client(section: dict) -> redis.Redis:
    if "nodes" in section:
        host, _, port = section["nodes"][0].rpartition(":")
        return redis.RedisCluster(host=host, port=int(port))
    return redis.Redis(host=section["host"], port=section["port"])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _valkey_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_200_000)
    parser.add_argument("--producers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--brokers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.messages = 240_000
    print(
        f"{args.messages:,} messages of {BODY_BYTES} bytes, {PARTITIONS} partitions, "
        f"{args.producers} producer processes, {args.brokers} brokers, "
        f"{os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory(prefix="sw-cluster-bench-") as tmp:
        work = Path(tmp)
        # appendonly like the cluster nodes, so both setups write the same files
        with EmbeddedServer(work / "single", appendonly=True) as server:
            node = redis.Redis(host=server.host, port=server.port)
            section = {"host": server.host, "port": server.port}
            single = run_setup("1 server", section, [node], args, work / "s")
            node.close()
        cluster = EmbeddedCluster(work / "cluster", primaries=3).start()
        try:
            nodes = [redis.Redis(host=n.host, port=n.port) for n in cluster.nodes]
            section = {"nodes": cluster.startup_nodes}
            sharded = run_setup("3-primary cluster", section, nodes, args, work / "c")
            for node in nodes:
                node.close()
        finally:
            for server in cluster.nodes:
                server.kill()
    print(
        f"cluster / single: produce {sharded['produce'] / single['produce']:.2f}, "
        f"archive {sharded['archive'] / single['archive']:.2f}"
    )


if __name__ == "__main__":
    main()

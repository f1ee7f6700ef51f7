"""Archival benchmark (not a test): throughput, broker memory, producer impact.

    uv run python bench/bench_archive.py            # the full run, ~2 minutes
    uv run python bench/bench_archive.py --quick    # 200k / 500k messages

Everything runs against one embedded Valkey started for the run:

1. the ceiling: a plain redis-py ``XRANGE ... COUNT 1000`` scan of N messages;
2. the archiver (in this process) writing the same N messages to local disk,
   then to a local S3 server (moto, as a process); ratios to the ceiling;
3. ``streamweaver-broker`` as a process archiving M messages: its VmRSS sampled
   from /proc every 250 ms;
4. a pipelined producer with the broker archiving what it writes, against the
   same producer without a broker.

Messages have one field, ``body``: 200 bytes of hex text (random, so it
compresses about 2:1 like typical payloads, not 100:1 like repeated bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis
import redis.asyncio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from broker.harness import BrokerProcess, fast_config  # noqa: E402
from streamweaver import keys  # noqa: E402
from streamweaver.archive.archiver import Archiver  # noqa: E402
from streamweaver.archive.index import SegmentIndex  # noqa: E402
from streamweaver.archive.rawread import raw_client  # noqa: E402
from streamweaver.config.model import (  # noqa: E402
    ArchiveConfig,
    LocalStorageConfig,
    RedisConfig,
    S3StorageConfig,
)
from streamweaver.embedded import EmbeddedServer  # noqa: E402
from streamweaver.storage.local import LocalStore  # noqa: E402
from streamweaver.storage.s3 import S3Store  # noqa: E402

from s3server import MotoS3Server  # noqa: E402

BODY_BYTES = 200
MESSAGE_BYTES = len("body") + BODY_BYTES


def fill(client: redis.Redis, stream: str, n: int, batch: int = 5000) -> str:
    """Add n messages; returns the last ID."""
    last = b""
    for start in range(0, n, batch):
        pipe = client.pipeline(transaction=False)
        for _ in range(min(batch, n - start)):
            pipe.xadd(stream, {"body": os.urandom(BODY_BYTES // 2).hex()})
        last = pipe.execute()[-1]
    return last.decode()


def scan(client: redis.Redis, stream: str) -> tuple[int, float]:
    started = time.perf_counter()
    start, n = "-", 0
    while batch := client.xrange(stream, start, "+", count=1000):
        n += len(batch)
        start = b"(" + batch[-1][0]
    return n, time.perf_counter() - started


async def archive_once(port: int, store, stream: str, last: str) -> float:
    """Archive ``stream`` from scratch into ``store``; seconds taken."""
    config = RedisConfig(host="127.0.0.1", port=port)
    client = redis.asyncio.Redis(host="127.0.0.1", port=port)
    raw = raw_client(config)
    await client.delete(keys.segment_index(stream), keys.archive_state(stream))
    index = SegmentIndex(client, store)
    archiver = Archiver(ArchiveConfig(), raw, store, index)
    started = time.perf_counter()
    while await index.archived_until(stream) != last:
        await archiver.pass_once({stream: None})
    elapsed = time.perf_counter() - started
    await raw.aclose()
    await client.aclose()
    return elapsed


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} msg/s  {n * MESSAGE_BYTES / seconds / 1e6:6.1f} MB/s"


def bench_throughput(server, client, n: int, work: Path, with_s3: bool) -> dict:
    print(f"\n== Archival throughput: {n:,} messages of {BODY_BYTES} bytes")
    last = fill(client, "bench", n)
    scans = [scan(client, "bench")[1] for _ in range(3)]
    ceiling_s = statistics.median(scans)
    print(f"XRANGE COUNT 1000 scan (ceiling) {rate(n, ceiling_s)}")
    results = {"ceiling": n / ceiling_s}

    local_s = []
    for attempt in range(3):
        store = LocalStore(LocalStorageConfig(path=work / f"local-{attempt}"))
        local_s.append(asyncio.run(archive_once(server.port, store, "bench", last)))
    elapsed = statistics.median(local_s)
    print(
        f"archiver to local disk           {rate(n, elapsed)}  "
        f"ratio {ceiling_s / elapsed:.2f}"
    )
    results["local"] = n / elapsed

    if with_s3:
        with MotoS3Server(log_path=work / "moto.log") as moto:
            bucket = moto.create_bucket()
            store = S3Store(S3StorageConfig(**moto.section(bucket, prefix="bench")))
            elapsed = asyncio.run(archive_once(server.port, store, "bench", last))
        print(
            f"archiver to S3 (moto process)    {rate(n, elapsed)}  "
            f"ratio {ceiling_s / elapsed:.2f}"
        )
        results["s3"] = n / elapsed
    client.delete("bench")
    return results


def bench_rss(server, client, n: int, work: Path) -> dict:
    print(f"\n== Broker memory while archiving {n:,} messages")
    last = fill(client, "rss", n)
    config = fast_config(server.port, work / "rss-archive")
    config["archive"] = {"read_batch": 1000}  # defaults: 100k messages, 64 MB, 60 s
    config["retention"] = {"policy": "time", "max_age": "1ms", "check_interval": "1s"}
    broker = BrokerProcess(config, work / "rss-broker").start()
    samples = []
    wait_for_broker(client)
    started = time.perf_counter()
    cpu_before, valkey_before = cpu_seconds(broker.pid), valkey_cpu(client)
    try:
        while client.hget(keys.archive_state("rss"), "archived_until") != last.encode():
            samples.append(broker.rss_bytes())
            time.sleep(0.25)
            if time.perf_counter() - started > 600:
                raise RuntimeError("the broker did not finish archiving in 10 minutes")
        elapsed = time.perf_counter() - started
        samples.append(broker.rss_bytes())
        broker_cpu_s = cpu_seconds(broker.pid) - cpu_before
        valkey_cpu_s = valkey_cpu(client) - valkey_before
    finally:
        broker.stop()
    mib = [s / 2**20 for s in samples]
    quarter = max(1, len(mib) // 4)
    print(f"broker end to end                {rate(n, elapsed)}")
    print(
        f"CPU per message: broker {broker_cpu_s / n * 1e6:.2f} us, "
        f"Valkey {valkey_cpu_s / n * 1e6:.2f} us"
    )
    print(
        f"VmRSS MiB: peak {max(mib):.0f}, median of first quarter "
        f"{statistics.median(mib[:quarter]):.0f}, of last quarter "
        f"{statistics.median(mib[-quarter:]):.0f}"
    )
    step = max(1, len(mib) // 12)
    print("VmRSS MiB over the run: " + " ".join(f"{m:.0f}" for m in mib[::step]))
    client.delete("rss")
    return {"rss_peak_mib": max(mib), "broker_rate": n / elapsed}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def valkey_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def produce_rate(port: int, stream: str, n: int) -> float:
    client = redis.Redis(host="127.0.0.1", port=port)
    body = os.urandom(BODY_BYTES // 2).hex()
    started = time.perf_counter()
    for start in range(0, n, 1000):
        pipe = client.pipeline(transaction=False)
        for _ in range(min(1000, n - start)):
            pipe.xadd(stream, {"body": body})
        pipe.execute()
    elapsed = time.perf_counter() - started
    client.close()
    return n / elapsed


def bench_producer(server, client, n: int, work: Path) -> dict:
    print(f"\n== Producer throughput, {n:,} messages, with and without archival")
    alone = [produce_rate(server.port, f"alone-{i}", n) for i in range(3)]
    client.delete(*(f"alone-{i}" for i in range(3)))  # not a backlog for the broker
    config = fast_config(server.port, work / "prod-archive")
    config["archive"] = {"read_batch": 1000, "segment_max_age": "1s"}
    broker = BrokerProcess(config, work / "prod-broker").start()
    try:
        wait_for_broker(client)
        rates, archived = [], []
        for i in range(3):
            rates.append(produce_rate(server.port, f"with-{i}", n))
            done = client.hget(keys.archive_state(f"with-{i}"), "archived_messages")
            archived.append(int(done or 0))
    finally:
        broker.stop()
    print(f"producer alone                   {statistics.median(alone):>10,.0f} msg/s")
    print(
        f"producer with broker archiving   {statistics.median(rates):>10,.0f} msg/s  "
        f"({statistics.median(rates) / statistics.median(alone):.0%} of alone)"
    )
    print(
        "archived by the broker while each run produced: "
        + ", ".join(f"{a / n:.0%}" for a in archived)
    )
    return {"producer_alone": alone, "producer_with_broker": rates}


def wait_for_broker(client: redis.Redis, timeout_s: float = 30.0) -> None:
    """Until the broker has registered itself (its heartbeat is in Redis)."""
    deadline = time.monotonic() + timeout_s
    while not client.zcard(keys.INSTANCES):
        if time.monotonic() > deadline:
            raise RuntimeError("the broker did not start")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rss-messages", type=int, default=5_000_000)
    parser.add_argument("--producer-messages", type=int, default=300_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-s3", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.rss_messages = 200_000, 500_000
    with tempfile.TemporaryDirectory(prefix="sw-bench-") as tmp:
        work = Path(tmp)
        server = EmbeddedServer(work / "valkey", appendonly=False).start()
        client = redis.Redis(host=server.host, port=server.port)
        try:
            print(
                f"Valkey {client.info('server')['valkey_version']} on port "
                f"{server.port}; {os.cpu_count()} cores"
            )
            bench_throughput(server, client, args.messages, work, not args.skip_s3)
            bench_rss(server, client, args.rss_messages, work)
            bench_producer(server, client, args.producer_messages, work)
        finally:
            client.close()
            server.stop()


if __name__ == "__main__":
    main()

"""Replay speed: archived messages back into Redis, against a raw pipelined XADD.

Archives ``--messages`` messages of 200 bytes into a local store (segments of
``--segment``), then in one run:

1. the baseline: the same entries, already decoded in memory, written with
   redis-py pipelines of explicit-ID XADDs (``--batch`` per round trip);
2. a replay job of the whole range into a fresh stream, through the broker's
   replay service (index lookup, segment reads, Parquet decoding, batches
   committed atomically with the job's progress).

Prints both rates and their ratio (the target is >= 0.8). Then, with moto as
an S3 server process, the time from submitting a replay to its first message
in the target.

    uv run python bench/bench_replay.py [--messages 1000000] [--segment 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio

from bench_segment import MESSAGE_BYTES, make_entries
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.segment import encode_segment
from streamweaver.config import config_from_mapping
from streamweaver.embedded import EmbeddedServer
from streamweaver.replay.archived import IndexedArchive
from streamweaver.replay.service import ReplayService
from streamweaver.storage import open_store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

STREAM = "bench:orders"


async def archive_entries(config, entries: list, segment: int) -> None:
    """Write the entries as archive segments and index them, as the archiver does."""
    store = open_store(config.storage)
    client = redis.asyncio.Redis(host=config.redis.host, port=config.redis.port)
    index = SegmentIndex(client, store)
    for start in range(0, len(entries), segment):
        data, meta = await asyncio.to_thread(
            encode_segment, STREAM, entries[start : start + segment]
        )
        await store.put(meta.name, data)
        await index.record(meta)
    await client.aclose()


async def baseline(config, entries: list, batch: int) -> float:
    """Seconds to XADD every entry (explicit IDs) with pipelines of ``batch``."""
    client = redis.asyncio.Redis(host=config.redis.host, port=config.redis.port)
    started = time.perf_counter()
    for start in range(0, len(entries), batch):
        pipe = client.pipeline(transaction=False)
        for entry_id, fields in entries[start : start + batch]:
            pipe.execute_command("XADD", "baseline", entry_id, *fields)
        await pipe.execute()
    seconds = time.perf_counter() - started
    assert await client.xlen("baseline") == len(entries)
    await client.delete("baseline")
    await client.aclose()
    return seconds


async def replay_job(config, *, target: str, expect: int) -> tuple[float, float]:
    """Seconds to the first message in the target and to the job's end."""
    client = redis.asyncio.Redis(host=config.redis.host, port=config.redis.port)
    store = open_store(config.storage)
    archive = IndexedArchive(SegmentIndex(client, store), store)
    service = ReplayService(config, client, archive=archive, instance_id="bench")
    runner = asyncio.create_task(service.run())
    started = time.perf_counter()
    job = await service.submit({"stream": STREAM, "target": target})
    first_s = None
    while True:
        if first_s is None and await client.exists(target):
            first_s = time.perf_counter() - started
        current = await service.get(job.id)
        if current is not None and current.finished:
            break
        await asyncio.sleep(0.001 if first_s is None else 0.02)
    total_s = time.perf_counter() - started
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert current.state == "done", current.fields
    assert await client.xlen(target) == expect
    await client.delete(target)
    await client.aclose()
    return first_s or total_s, total_s


def rate(count: int, seconds: float) -> str:
    return (
        f"{seconds:7.2f} s  {count / seconds:>10,.0f} msg/s  "
        f"{count * MESSAGE_BYTES / seconds / 1e6:6.1f} MB/s"
    )


async def local_run(args, workdir: Path, server: EmbeddedServer) -> None:
    config = config_from_mapping(
        {
            "redis": {"host": server.host, "port": server.port},
            "storage": {"type": "local", "local": {"path": str(workdir / "archive")}},
            "replay": {"max_replay_batch_size": args.batch},
        }
    )
    entries = make_entries(args.messages)
    await archive_entries(config, entries, args.segment)
    print(
        f"{args.messages:,} archived messages of {MESSAGE_BYTES} bytes, segments "
        f"of {args.segment:,}, batches of {args.batch:,}"
    )
    base_s = await baseline(config, entries, args.batch)
    print(f"raw pipelined XADD (in memory)  {rate(args.messages, base_s)}")
    del entries
    first_s, total_s = await replay_job(config, target="replayed", expect=args.messages)
    print(f"replay job (local store)        {rate(args.messages, total_s)}")
    print(f"replay / raw XADD throughput: {base_s / total_s:.2f}x (target >= 0.8x)")
    print(f"time to first message (local): {first_s * 1000:.0f} ms")


async def s3_run(args, server: EmbeddedServer) -> None:
    from s3server import MotoS3Server

    with MotoS3Server() as s3:
        bucket = s3.create_bucket()
        config = config_from_mapping(
            {
                "redis": {"host": server.host, "port": server.port},
                "storage": {"type": "s3", "s3": s3.section(bucket, prefix="bench")},
            }
        )
        await archive_entries(
            config, make_entries(args.s3_messages), min(args.segment, 100_000)
        )
        first_s, total_s = await replay_job(
            config, target="from-s3", expect=args.s3_messages
        )
    print(
        f"S3 (moto): time to first message {first_s * 1000:.0f} ms; "
        f"{args.s3_messages:,} messages in {total_s:.2f} s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--segment", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--s3-messages", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with EmbeddedServer(workdir / "valkey", appendonly=False) as server:
            await local_run(args, workdir, server)
            await server_flush(server)
            await s3_run(args, server)


async def server_flush(server: EmbeddedServer) -> None:
    client = redis.asyncio.Redis(host=server.host, port=server.port)
    await client.flushall()
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())

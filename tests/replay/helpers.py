"""Replay test helpers: produce, archive and trim streams; submit and await jobs."""

from __future__ import annotations

import redis.asyncio

from streamweaver.archive.archiver import Archiver
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.rawread import raw_client
from streamweaver.config import ArchiveConfig, Config
from streamweaver.storage import open_store

from waiting import eventually

FINISHED = {b"done", b"failed", b"rejected", b"cancelled"}


async def produce(
    client: redis.asyncio.Redis, stream: str, count: int, *, start: int = 0
) -> list[bytes]:
    """Add ``count`` entries ``{"n": i, "pad": ...}``; their IDs, in order."""
    pipe = client.pipeline(transaction=False)
    for n in range(start, start + count):
        pipe.xadd(stream, {"n": str(n), "pad": "x" * 20})
    return list(await pipe.execute())


async def archive(config: Config, stream: str, *, trim_keep: int | None = None) -> None:
    """Archive all of ``stream``, then trim Redis to its newest ``trim_keep``."""
    store = open_store(config.storage)
    client = raw_client(config.redis)
    try:
        index = SegmentIndex(client, store)
        archiver = Archiver(
            ArchiveConfig.model_validate(
                {"segment_max_messages": 300, "segment_max_age": "1ms"}
            ),
            client,
            store,
            index,
        )
        last = await client.xrevrange(stream, "+", "-", count=1)
        last_id = last[0][0].decode()

        async def caught_up() -> bool:
            await archiver.pass_once({stream: None})
            return await index.archived_until(stream) == last_id

        await eventually(caught_up, timeout_s=30)
        if trim_keep is not None:
            await trim(client, stream, trim_keep)
    finally:
        await client.aclose()


async def raw_range(config: Config, stream: str) -> list[tuple[bytes, list[bytes]]]:
    """Every entry of ``stream`` with its flat field/value list, as stored."""
    client = raw_client(config.redis)
    try:
        return [
            (entry_id, fields)
            for entry_id, fields in await client.xrange(stream, "-", "+")
        ]
    finally:
        await client.aclose()


async def trim(client: redis.asyncio.Redis, stream: str, keep: int) -> None:
    """Trim ``stream`` to its newest ``keep`` entries (MINID, as retention does)."""
    if keep == 0:
        await client.xtrim(stream, maxlen=0)
        return
    tail = await client.xrevrange(stream, "+", "-", count=keep)
    await client.xtrim(stream, minid=tail[-1][0])


async def finished(client: redis.asyncio.Redis, job_id: str, timeout_s=20) -> dict:
    """Wait for a job to end; its hash with text keys and values."""

    async def job():
        raw = await client.hgetall(f"sw:replay:job:{job_id}")
        return raw if raw.get(b"state") in FINISHED else None

    raw = await eventually(job, timeout_s=timeout_s)
    return {k.decode(): v.decode() for k, v in raw.items()}


async def submit(client: redis.asyncio.Redis, **fields: str) -> str:
    """XADD a replay request to the control stream; the job ID."""
    entry_id = await client.xadd("sw:control", {"op": "replay", **fields})
    return entry_id.decode()

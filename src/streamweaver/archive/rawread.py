"""Reading streams without building a Python dict per entry.

redis-py's XRANGE reply callback turns every entry's fields into a dict. The
archiver and the trimmer read millions of entries, so they use a client of
their own whose XRANGE reply is left as hiredis parsed it: a list of
``[id, [field, value, field, value, ...]]`` pairs, all ``bytes``.
"""

from __future__ import annotations

import redis.asyncio

from streamweaver.config.model import RedisConfig
from streamweaver.connection import connect_async

RawEntry = list  # [id: bytes, fields: list[bytes]]


def _as_is(response: object, **_options: object) -> object:
    return response


def raw_client(config: RedisConfig) -> redis.asyncio.Redis:
    """A client whose XRANGE and XREVRANGE replies are raw lists, on its own pool."""
    client = connect_async(config)
    client.set_response_callback("XRANGE", _as_is)
    client.set_response_callback("XREVRANGE", _as_is)
    return client


async def xrange_raw(
    client: redis.asyncio.Redis,
    stream: str,
    start: str | bytes,
    end: str | bytes = "+",
    count: int = 1000,
) -> list[RawEntry]:
    """Up to ``count`` entries from ``start`` to ``end`` (``(`` makes it exclusive)."""
    return await client.execute_command("XRANGE", stream, start, end, "COUNT", count)


async def id_at_offset(
    client: redis.asyncio.Redis,
    stream: str,
    offset: int,
    *,
    end: str | bytes = "+",
    chunk: int = 10_000,
) -> bytes | None:
    """The ID of the entry ``offset`` places from the start (0 is the first).

    Only entries up to ``end`` are walked; None if the stream has fewer. Costs
    one XRANGE per ``chunk`` entries walked, so callers bound ``offset``.
    """
    start: bytes | str = "-"
    remaining = offset + 1
    while remaining > 0:
        batch = await xrange_raw(client, stream, start, end, min(chunk, remaining))
        if not batch:
            return None
        remaining -= len(batch)
        if remaining == 0:
            return batch[-1][0]
        start = b"(" + batch[-1][0]
    return None

"""Reading a stream's whole history from a client: the archive, then Redis, then live.

:class:`TieredReader` is the archive-aware source behind the Python client's
``read``: it yields the archived entries of a range, then the ones still in
Redis, as one ordered sequence with no gap and no duplicate at the seam (see
:mod:`streamweaver.replay.tiers`), and optionally follows the live tail with
XREAD. It reads the archive directly, so the client needs the broker's
``storage`` section. :class:`SyncTieredReader` runs it for the synchronous
client on a private event loop thread, a batch per hand-over.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import redis.asyncio

from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.rawread import raw_client
from streamweaver.client.ids import (
    MAX_ID,
    MIN_ID,
    Position,
    StreamId,
    end_bound,
    parse_id,
    start_bound,
)
from streamweaver.config.model import RedisConfig, StorageConfig
from streamweaver.connection import address_of, translated
from streamweaver.errors import InvalidIdError
from streamweaver.replay.archived import IndexedArchive
from streamweaver.replay.tiers import Entry, read_range
from streamweaver.storage import open_store
from streamweaver.storage.base import Store

T = TypeVar("T")


def _as_is(response: object, **_options: object) -> object:
    return response


class TieredReader:
    """Reads streams across the archive and Redis for one client (asyncio)."""

    def __init__(
        self, redis_config: RedisConfig, storage: StorageConfig | Store | None
    ) -> None:
        self._address = address_of(redis_config)
        self._raw: redis.asyncio.Redis = raw_client(redis_config)
        self._raw.set_response_callback("XREAD", _as_is)
        self.archive: IndexedArchive | None = None
        if storage is not None:
            store = storage if isinstance(storage, Store) else open_store(storage)
            self.archive = IndexedArchive(SegmentIndex(self._raw, store), store)

    async def read(
        self,
        stream: str,
        start: Position = "-",
        end: Position = "+",
        *,
        batch_size: int = 1000,
        follow: bool = False,
        block_ms: int = 1000,
    ) -> AsyncIterator[list[Entry]]:
        """Batches of ``[start, end]`` in ID order, then new entries if following."""
        low, high = _bounds(start, end)
        if follow and high != MAX_ID:
            raise InvalidIdError("follow needs the end '+'; a range with an end ends")
        last: StreamId | None = None
        with translated(self._address):
            async for batch in read_range(
                self._raw, self.archive, stream, low, high, batch_size=batch_size
            ):
                last = parse_id(batch[-1][0])
                yield batch
        if not follow:
            return
        after = str(last) if last else ("0-0" if low == MIN_ID else str(low.previous()))
        while True:
            with translated(self._address):
                reply = await self._raw.execute_command(
                    "XREAD", "COUNT", batch_size, "BLOCK", block_ms,
                    "STREAMS", stream, after,
                )  # fmt: skip
            if not reply:
                continue
            # One stream asked for: its entries, whichever RESP shape came back.
            streams = list(reply.values()) if isinstance(reply, dict) else reply
            found = streams[0] if isinstance(reply, dict) else streams[0][1]
            entries = [(_text(i), items) for i, items in found]
            after = entries[-1][0]
            yield entries

    async def aclose(self) -> None:
        await self._raw.aclose()


class SyncTieredReader:
    """:class:`TieredReader` for synchronous code, on its own event loop thread."""

    def __init__(
        self, redis_config: RedisConfig, storage: StorageConfig | Store | None
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="streamweaver-archive", daemon=True
        )
        self._thread.start()
        self._reader = self._run(_make(redis_config, storage))

    def read(
        self,
        stream: str,
        start: Position = "-",
        end: Position = "+",
        *,
        batch_size: int = 1000,
        follow: bool = False,
        block_ms: int = 1000,
    ) -> Iterator[list[Entry]]:
        """Batches of entries, as :meth:`TieredReader.read` yields them."""
        batches = self._reader.read(
            stream, start, end, batch_size=batch_size, follow=follow, block_ms=block_ms
        )
        try:
            while True:
                try:
                    batch = self._run(anext(batches))
                except StopAsyncIteration:
                    return
                yield batch
        finally:
            self._run(batches.aclose())

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._reader.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()


async def _make(redis_config: RedisConfig, storage: StorageConfig | Store | None):
    # Built on the reader's own loop: redis-py clients belong to one loop.
    return TieredReader(redis_config, storage)


def _bounds(start: Position, end: Position) -> tuple[StreamId, StreamId]:
    low, high = start_bound(start), end_bound(end)
    return (
        MIN_ID if low == "-" else parse_id(low),
        MAX_ID if high == "+" else parse_id(high),
    )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

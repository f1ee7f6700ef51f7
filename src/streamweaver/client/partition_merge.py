"""Reading and replaying a logical stream: its partitions merged by ID (time).

Partitions are ordinary streams with IDs of their own, so two partitions can
hold the same ID. The merged order is by ID, then by partition number, which
is total and the same for every reader. A replay of a logical stream
therefore writes with new IDs (``append`` mode) and records where each message
came from in ``sw:origin-id``, ``sw:origin-stream`` (the partition) and
``sw:origin-partition``; ``preserve`` mode is refused. Logical replays run in
the client that asks (not as a broker job): the client reads each partition
across the archive and Redis and writes the merged sequence to the target.
"""

from __future__ import annotations

import heapq
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from streamweaver.client import headers as hdr
from streamweaver.client.codec import EncodedMessage
from streamweaver.client.ids import StreamId, parse_id
from streamweaver.client.message import BaseMessage
from streamweaver.errors import ReplayError, StreamError
from streamweaver.partitioning import Partitioning

M = TypeVar("M", bound=BaseMessage)

REPLAY_BATCH = 1000
"""Messages per write of a logical replay unless ``batch_size`` says otherwise."""

_SUPPORTED = {"target", "mode", "batch_size", "job_id", "pace"}


@dataclass
class LogicalReplay:
    """The outcome of a logical stream's replay, which ran in the client."""

    id: str
    stream: str
    target: str
    replayed: int = 0
    last_target_id: str | None = None

    def wait(self, timeout_s: float | None = None) -> LogicalReplay:
        """Return at once: the replay finished before the call that made it."""
        return self

    def progress(self) -> tuple[int, int]:
        return self.replayed, self.replayed


def replay_plan(partitioning: Partitioning, options: dict[str, Any]) -> LogicalReplay:
    """Check a logical replay's options; the (empty) outcome it will fill."""
    stream = partitioning.stream
    unknown = sorted(set(options) - _SUPPORTED)
    if unknown:
        raise ReplayError(
            f"a replay of the logical stream {stream!r} runs in the client and "
            f"does not support {', '.join(unknown)}; it takes target, mode "
            "('append'), batch_size and job_id",
            stream=stream,
        )
    if options.get("mode") != "append":
        raise ReplayError(
            f"the logical stream {stream!r} cannot be replayed in preserve mode: "
            "IDs of different partitions can be equal, so the merged messages need "
            "new IDs; pass mode='append' (each message keeps its original ID and "
            "partition in the sw:origin-id and sw:origin-partition headers)",
            stream=stream,
        )
    if options.get("pace", "fast") != "fast":
        raise ReplayError(
            f"a replay of the logical stream {stream!r} supports pace 'fast' only",
            stream=stream,
        )
    job_id = options.get("job_id") or f"{time.time_ns() // 1_000_000}-{_suffix()}"
    target = options.get("target") or f"{stream}:replay:{job_id}"
    if target in partitioning.names or target == stream:
        raise ReplayError(
            f"a logical replay cannot write into {target!r}, its own source",
            stream=stream,
        )
    return LogicalReplay(job_id, stream, target)


def batch_size_of(options: dict[str, Any]) -> int:
    size = options.get("batch_size", REPLAY_BATCH)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ReplayError(f"batch_size must be a positive integer, got {size!r}")
    return size


def origin_flat(message: BaseMessage, partition: int) -> list[bytes]:
    """A merged message's pairs with its origin headers, for the target."""
    encoded = EncodedMessage(message.flat).with_headers({
        hdr.ORIGIN_ID: message.id,
        hdr.ORIGIN_STREAM: message.stream,
        hdr.ORIGIN_PARTITION: str(partition),
    })  # fmt: skip
    return list(encoded.flat)


def no_follow(stream: str) -> StreamError:
    return StreamError(
        f"follow is not supported on the logical stream {stream!r}: read its "
        "history with read(), then consume it with a group or follow it with tail()",
        stream=stream,
    )


def merge(parts: Iterable[Iterator[M]]) -> Iterator[tuple[int, M]]:
    """(partition number, message) of every part, by ID then partition number."""
    keyed = [_keyed(index, part) for index, part in enumerate(parts)]
    for _, index, message in heapq.merge(*keyed, key=lambda item: item[:2]):
        yield index, message


def _keyed(index: int, part: Iterator[M]) -> Iterator[tuple[StreamId, int, M]]:
    for message in part:
        yield parse_id(message.id), index, message


async def amerge(parts: list[AsyncIterator[M]]) -> AsyncIterator[tuple[int, M]]:
    """The asyncio twin of :func:`merge`."""
    heads: list[tuple[StreamId, int, M]] = []
    for index, part in enumerate(parts):
        first = await anext(part, None)
        if first is not None:
            heads.append((parse_id(first.id), index, first))
    heapq.heapify(heads)
    while heads:
        _, index, message = heads[0]
        yield index, message
        following = await anext(parts[index], None)
        if following is None:
            heapq.heappop(heads)
        else:
            heapq.heapreplace(heads, (parse_id(following.id), index, following))


def _suffix() -> str:
    return secrets.token_hex(3)

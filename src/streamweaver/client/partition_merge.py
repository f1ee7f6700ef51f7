"""Reading a logical stream: its partitions merged by ID (time).

Partitions are ordinary streams with IDs of their own, so two partitions can
hold the same ID. The merged order is by ID, then by partition number, which
is total and the same for every reader (the broker's replay of a logical
stream uses it too, see :mod:`streamweaver.replay.merged`).
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TypeVar

from streamweaver.client.ids import StreamId, parse_id
from streamweaver.client.message import BaseMessage
from streamweaver.errors import StreamError

M = TypeVar("M", bound=BaseMessage)


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

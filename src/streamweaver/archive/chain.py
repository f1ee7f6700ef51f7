"""Choosing one consistent chain of segments out of overlapping objects.

After Redis lost the index, the store may hold objects that overlap: a broker
that was killed (or fenced out) after writing a segment but before recording
it leaves an orphan, and its successor archives the same entries again with
different boundaries. The rebuilt index keeps the set of mutually
non-overlapping segments that holds the most messages; among equally large
sets it prefers the one written more recently (by the sum of the objects'
write times), because an orphan is always older than what replaced it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from streamweaver.archive.layout import parse_id
from streamweaver.archive.segment import SegmentMeta


def choose_chain(candidates: Sequence[SegmentMeta]) -> list[SegmentMeta]:
    """The best non-overlapping segments among ``candidates``, in ID order."""
    ordered = sorted(
        candidates,
        key=lambda meta: (parse_id(meta.last_id), parse_id(meta.first_id), meta.name),
    )
    lasts = [parse_id(meta.last_id) for meta in ordered]
    # Weighted interval scheduling: best[i] is the best value using the first
    # i segments, and taken[i] where the chain continues if segment i-1 is in.
    best: list[tuple[int, int]] = [(0, 0)]
    taken: list[int | None] = [None]
    for i, meta in enumerate(ordered):
        before = bisect_left(lasts, parse_id(meta.first_id), 0, i)
        value = (best[before][0] + meta.count, best[before][1] + meta.created_ms)
        if value > best[i]:
            best.append(value)
            taken.append(before)
        else:
            best.append(best[i])
            taken.append(None)

    chain = []
    i = len(ordered)
    while i > 0:
        previous = taken[i]
        if previous is None:
            i -= 1
        else:
            chain.append(ordered[i - 1])
            i = previous
    chain.reverse()
    return chain

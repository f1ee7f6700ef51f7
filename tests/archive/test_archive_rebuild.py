"""Rebuilding picks the non-overlapping segments that hold the most messages."""

from __future__ import annotations

import pytest

from streamweaver.archive.layout import segment_name
from streamweaver.archive.rebuild import choose_chain
from streamweaver.archive.segment import SegmentMeta


def seg(first: int, last: int, created_ms: int = 0) -> SegmentMeta:
    first_id, last_id = f"{first}-0", f"{last}-0"
    return SegmentMeta(
        stream="s",
        name=segment_name("s", first_id, last_id),
        first_id=first_id,
        last_id=last_id,
        first_ms=first,
        last_ms=last,
        count=last - first + 1,
        size_bytes=100,
        sha256="",
        created_ms=created_ms,
    )


A, B, C = seg(1, 10, 50), seg(11, 20, 60), seg(21, 30, 70)


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([], []),
        ([C, A, B], [A, B, C]),
        ([seg(1, 15, 10), A, B, C], [A, B, C]),
        ([A, seg(5, 25, 10), B, C], [A, B, C]),
        ([A, B, C, seg(11, 40, 10)], [A, seg(11, 40, 10)]),
        ([seg(1, 35, 10), A, B], [seg(1, 35, 10)]),
        ([seg(1, 20, 100), A, B], [A, B]),
        ([seg(1, 20, 200), A, B], [seg(1, 20, 200)]),
        ([A, seg(10, 10, 99)], [A]),
        ([seg(10, 11, 5), A, B], [A, B]),
    ],
)
def test_the_chain_covers_the_most_messages_then_prefers_newer_objects(
    candidates: list[SegmentMeta], expected: list[SegmentMeta]
) -> None:
    assert choose_chain(candidates) == expected

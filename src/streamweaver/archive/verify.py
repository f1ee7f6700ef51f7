"""Checking a stream's archive: every indexed object present, intact and consistent."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from streamweaver.archive import layout
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.reader import load_segment
from streamweaver.archive.segment import META_PREFIX, SegmentMeta, open_parquet
from streamweaver.errors import ArchiveError
from streamweaver.storage.base import Store

log = logging.getLogger(__name__)


@dataclass
class VerifyReport:
    """What :func:`verify_archive` found; clean when ``problems`` is empty."""

    stream: str
    segments: int = 0
    messages: int = 0
    size_bytes: int = 0
    archived_until: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is missing, damaged or inconsistent."""
        return not self.problems


async def verify_archive(
    index: SegmentIndex,
    store: Store,
    stream: str,
    *,
    on_segment: Callable[[SegmentMeta], None] | None = None,
) -> VerifyReport:
    """Check a stream's index against its objects: checksums, ranges, overlaps."""
    metas = await index.segments(stream)
    report = VerifyReport(
        stream=stream,
        segments=len(metas),
        messages=sum(meta.count for meta in metas),
        size_bytes=sum(meta.size_bytes for meta in metas),
        archived_until=await index.archived_until(stream),
    )
    _check_chain(report, metas)
    stored = {
        info.name: info.size_bytes
        async for info in store.list(layout.stream_prefix(stream))
        if layout.parse_segment_name(info.name) is not None
    }
    for name in sorted(set(stored) - {meta.name for meta in metas}):
        report.warnings.append(
            f"{name}: in the store but not in the index (an orphan of an "
            "interrupted write, or removed from the index but not deleted)"
        )
    for meta in metas:
        if meta.name not in stored:
            report.problems.append(
                f"{meta.name}: in the index but missing from the store"
            )
        elif stored[meta.name] != meta.size_bytes:
            report.problems.append(
                f"{meta.name}: the store holds {stored[meta.name]} bytes, the index "
                f"recorded {meta.size_bytes}"
            )
        else:
            await _check_segment(report, index, store, meta)
        if on_segment is not None:
            on_segment(meta)
    return report


def _check_chain(report: VerifyReport, metas: list[SegmentMeta]) -> None:
    for before, after in itertools.pairwise(metas):
        if layout.parse_id(after.first_id) <= layout.parse_id(before.last_id):
            report.problems.append(
                f"{before.name} and {after.name} overlap: the first ends at "
                f"{before.last_id}, the second starts at {after.first_id}"
            )
    if not metas or report.archived_until is None:
        if metas:
            report.problems.append("the index has segments but no archived-until ID")
        return
    last = metas[-1]
    until = layout.parse_id(report.archived_until)
    if until > layout.parse_id(last.last_id):
        report.problems.append(
            f"gap: the stream is marked archived until {report.archived_until}, but "
            f"the last segment ({last.name}) ends at {last.last_id}"
        )
    elif until < layout.parse_id(last.last_id):
        report.problems.append(
            f"the stream is marked archived until {report.archived_until}, but "
            f"segment {last.name} goes on to {last.last_id}"
        )


async def _check_segment(
    report: VerifyReport, index: SegmentIndex, store: Store, meta: SegmentMeta
) -> None:
    if not meta.sha256:
        report.warnings.append(
            f"{meta.name}: no checksum in the index (rebuilt from footers); "
            "computed and recorded it now"
        )
    try:
        data = await load_segment(index, store, meta)
        found = await asyncio.to_thread(_content_problems, data, meta)
    except ArchiveError as exc:
        found = [str(exc)]
    report.problems.extend(f"{meta.name}: {problem}" for problem in found)


def _content_problems(data: bytes, meta: SegmentMeta) -> list[str]:
    try:
        parquet = open_parquet(data)
        ids = parquet.read(columns=["id", "ms", "seq"])
    except Exception as exc:  # any decoding failure is a finding, not a crash
        return [f"cannot be decoded: {exc}"]
    footer = {
        key.decode(): value.decode()
        for key, value in (parquet.metadata.metadata or {}).items()
        if key.startswith(META_PREFIX.encode())
    }
    problems = []
    expected = {
        "stream": layout.escape_stream(meta.stream),
        "first_id": meta.first_id,
        "last_id": meta.last_id,
        "count": str(meta.count),
    }
    for key, value in expected.items():
        if footer.get(META_PREFIX + key) != value:
            problems.append(
                f"the footer says {key} {footer.get(META_PREFIX + key)!r}, "
                f"the index {value!r}"
            )
    if ids.num_rows != meta.count:
        problems.append(f"holds {ids.num_rows} messages, the index says {meta.count}")
    if ids.num_rows:
        first, last = ids["id"][0].as_py(), ids["id"][-1].as_py()
        if (first, last) != (meta.first_id, meta.last_id):
            problems.append(
                f"holds IDs {first}..{last}, the index says "
                f"{meta.first_id}..{meta.last_id}"
            )
        if not _ascending(ids):
            problems.append("its IDs are not in strictly increasing order")
    return problems


def _ascending(table: pa.Table) -> bool:
    if table.num_rows < 2 or table["ms"].null_count:
        parsed = [layout.parse_id(value) for value in table["id"].to_pylist()]
        return all(a < b for a, b in itertools.pairwise(parsed))
    ms, seq = table["ms"].combine_chunks(), table["seq"].combine_chunks()
    later = pc.or_(
        pc.greater(ms[1:], ms[:-1]),
        pc.and_(pc.equal(ms[1:], ms[:-1]), pc.greater(seq[1:], seq[:-1])),
    )
    return bool(pc.all(later).as_py())

"""Segment objects in the store that the index does not know: crash leftovers.

A broker killed between ``store.put`` and ``index.record`` leaves an object
the index never heard of. Its entries are still in Redis (retention trims only
what the index records), so the archiver writes them again from the recorded
point; the new segment may end elsewhere and get another name. An orphan is
deleted as soon as its ID range reaches into the recorded range: it is then a
copy of data the index already points to, and readers that list the store
(DuckDB over the directory) would otherwise see those messages twice. An
orphan lying wholly beyond the recorded range is left alone until then.

Only the date partitions from the recorded point's day onward are listed, so
starting on a stream with a long history stays cheap.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from streamweaver.archive import layout
from streamweaver.retention.ids import StreamId, parse_id
from streamweaver.storage.base import Store

log = logging.getLogger(__name__)


async def find_orphans(
    store: Store,
    stream: str,
    recorded: set[str],
    archived_until: StreamId | None,
    *,
    now_ms: int,
) -> dict[str, tuple[StreamId, StreamId]]:
    """Unrecorded segment objects of ``stream`` near or after the recorded point."""
    found: dict[str, tuple[StreamId, StreamId]] = {}
    for prefix in _prefixes(stream, archived_until, now_ms):
        async for info in store.list(prefix):
            parsed = layout.parse_segment_name(info.name)
            if parsed is None or parsed[0] != stream or info.name in recorded:
                continue
            found[info.name] = (parse_id(parsed[1]), parse_id(parsed[2]))
    return found


async def delete_covered(
    store: Store,
    stream: str,
    orphans: dict[str, tuple[StreamId, StreamId]],
    archived_until: StreamId | None,
) -> int:
    """Delete the orphans whose range starts at or before ``archived_until``."""
    if archived_until is None:
        return 0
    covered = [name for name, (first, _) in orphans.items() if first <= archived_until]
    for name in covered:
        await store.delete(name)
        del orphans[name]
    if covered:
        log.info(
            "Deleted %d unrecorded segment(s) of %r left by an interrupted write; "
            "their messages are archived in recorded segments.",
            len(covered),
            stream,
        )
    return len(covered)


def _prefixes(stream: str, archived_until: StreamId | None, now_ms: int) -> list[str]:
    base = layout.stream_prefix(stream)
    if archived_until is None:
        return [base]
    day = datetime.fromtimestamp(archived_until[0] / 1000, UTC).date()
    last = datetime.fromtimestamp(now_ms / 1000, UTC).date() + timedelta(days=1)
    if (last - day).days > 31:
        return [base]  # far behind (or IDs not times): list it all
    prefixes = []
    while day <= last:
        prefixes.append(f"{base}date={day.isoformat()}/")
        day += timedelta(days=1)
    return prefixes

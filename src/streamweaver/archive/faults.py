"""Fault injection for crash tests: named points where the process kills itself.

The archiver and the trimmer call :func:`hit` at the steps where a crash
matters. A test arms one or more points through an environment variable, and
the broker process sends itself SIGKILL (no cleanup, no flush, exactly like a
crash) the n-th time it reaches an armed point::

    STREAMWEAVER_FAULT=after_put:2           # die at the 2nd segment put
    STREAMWEAVER_FAULT=before_put,after_trim # die at the first hit of either

Points:

``before_put``
    a segment is encoded; nothing is written yet.
``mid_put``
    half of the segment's bytes are written to a temporary file beside where
    the object would go (local and block stores), as a write cut short would
    leave them; the object itself is not written.
``after_put``
    the object is stored but not recorded in the index: an orphan.
``after_record``
    the segment is recorded, ``archived_until`` advanced, nothing trimmed yet.
``after_trim``
    retention has trimmed Redis.

When the variable is unset, :func:`hit` returns after one dictionary check.
This is for tests: never set the variable in production.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from streamweaver.storage import _fsio

if TYPE_CHECKING:
    from streamweaver.archive.segment import SegmentMeta
    from streamweaver.storage.base import Store

log = logging.getLogger(__name__)

ENV_VAR = "STREAMWEAVER_FAULT"
POINTS = frozenset({"before_put", "mid_put", "after_put", "after_record", "after_trim"})


def parse(spec: str) -> dict[str, int]:
    """Parse ``"after_put:2,before_put"`` into ``{"after_put": 2, "before_put": 1}``."""
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, nth = item.partition(":")
        if name not in POINTS:
            raise ValueError(
                f"{ENV_VAR}: unknown fault point {name!r}; "
                f"use one of {', '.join(sorted(POINTS))}"
            )
        if nth and (not nth.isdigit() or int(nth) < 1):
            raise ValueError(f"{ENV_VAR}: {item!r} needs a hit count of 1 or more")
        armed[name] = int(nth) if nth else 1
    return armed


_armed = parse(os.environ.get(ENV_VAR, ""))
_hits: dict[str, int] = {}


def hit(point: str, before_kill: Callable[[], None] | None = None) -> None:
    """Count a pass through ``point``; die by SIGKILL if it is armed for this pass."""
    if not _armed or point not in _armed:
        return
    _hits[point] = _hits.get(point, 0) + 1
    if _hits[point] != _armed[point]:
        return
    if before_kill is not None:
        before_kill()
    log.warning("Fault injection: killing the process at %s.", point)
    os.kill(os.getpid(), signal.SIGKILL)


def arm(spec: str) -> None:
    """Arm points in this process (tests of the fault module itself)."""
    global _armed
    _armed = parse(spec)
    _hits.clear()


def leave_partial_write(store: Store, meta: SegmentMeta, data: bytes) -> None:
    """For the ``mid_put`` fault: half an object in a temp file, as a cut write."""
    root = getattr(store, "root", None)
    if root is None:
        return  # object stores never show a partial upload
    final = root.joinpath(*meta.name.split("/"))
    final.parent.mkdir(parents=True, exist_ok=True)
    _fsio.temp_path(final).write_bytes(data[: len(data) // 2])

"""Sample entries for the archive tests (import as ``archive.samples``)."""

from __future__ import annotations

BASE_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z


def entries_between(first: int, last: int, *, ms_step: int = 1) -> list:
    """Raw entries ``BASE_MS + n*ms_step - 0`` for n in first..last, as XRANGE gives."""
    return [
        (
            f"{BASE_MS + n * ms_step}-0".encode(),
            [b"n", str(n).encode(), b"pad", b"x" * 50],
        )
        for n in range(first, last + 1)
    ]

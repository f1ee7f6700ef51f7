"""The small interface every archive storage backend implements.

Object names are ``/``-separated paths relative to the backend's root (the
S3 prefix or the directory); the archive layout module builds them. A name
must not be empty, start with ``/``, contain ``.``/``..``/empty parts, NUL or
backslashes, or have a part starting with ``.swtmp-`` (the backends' scratch
files); every method raises ValueError for such a name.

A backend must make ``put`` atomic and durable: once it returns, the whole
object is readable and survives a crash, and before it returns no reader sees
any part of it.

Errors: StorageUnavailableError when the store cannot be reached, refuses
access or is gone (retry later); StorageFullError when a volume has no room;
plain StorageError otherwise, including a missing object on a read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object, as a listing reports it."""

    name: str
    size_bytes: int
    modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class VolumeUsage:
    """Capacity of a filesystem volume, for backends that have one."""

    total_bytes: int
    free_bytes: int


@runtime_checkable
class Store(Protocol):
    """Where archived segments live: S3, a block volume or a local directory."""

    kind: str
    """The backend's name as in ``storage.type``: ``s3``, ``block`` or ``local``."""

    location: str
    """Where the objects are, for messages: ``s3://bucket/prefix`` or a path."""

    async def check(self) -> None:
        """Verify the store is reachable and writable; raise StorageError if not.

        Called once at startup; filesystem stores also remove temp files that a
        crashed writer left behind.
        """

    async def put(self, name: str, data: bytes) -> None:
        """Write an object atomically and durably, replacing any with that name."""

    async def get(self, name: str) -> bytes:
        """Read a whole object; raise StorageError if it is missing."""

    async def get_range(self, name: str, start: int, end: int) -> bytes:
        """Read bytes ``[start, end)`` of an object (for Parquet footers).

        A range reaching past the end is cut short (``b""`` if it starts there);
        a negative ``start`` or ``end < start`` raises ValueError.
        """

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Yield every object whose name starts with ``prefix`` (as a string).

        ``"a/b"`` matches ``a/b.parquet`` and ``a/bc/x``; ``"a/b/"`` only names
        under ``a/b/``. The order is not guaranteed.
        """

    async def delete(self, name: str) -> None:
        """Remove an object; deleting a missing object is not an error."""

    async def usage(self) -> VolumeUsage | None:
        """Total and free bytes of the volume, or None where that has no meaning."""

"""The filesystem store shared by the ``local`` and ``block`` backends.

Objects are files under a root directory; a name's ``/`` parts are
subdirectories. Blocking file I/O runs in worker threads, never on the event
loop. See :mod:`streamweaver.storage._fsio` for how writes stay atomic and
durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

from streamweaver.errors import (
    StorageError,
    StorageFullError,
    StorageUnavailableError,
)
from streamweaver.storage import _fsio
from streamweaver.storage._names import TEMP_MARK, check_name, check_prefix
from streamweaver.storage.base import ObjectInfo, VolumeUsage

log = logging.getLogger(__name__)

_FULL = (errno.ENOSPC, errno.EDQUOT)
_UNAVAILABLE = (
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EIO,
    errno.ENODEV,
    errno.ESTALE,
)
_OPEN_ATTEMPTS = 3


class FilesystemStore:
    """Objects as files under one directory, written atomically and durably."""

    kind = "filesystem"
    create_root = True
    """Whether ``check`` may create a missing root directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.location = str(self.root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    @property
    def described(self) -> str:
        """The backend and place, as error messages start: ``local storage at /x``."""
        return f"{self.kind} storage at {self.root}"

    async def check(self) -> None:
        """Verify the directory exists (or create it), is writable; clean up temps."""
        await asyncio.to_thread(self._check)

    async def put(self, name: str, data: bytes) -> None:
        """Write an object atomically and durably, replacing any with that name."""
        path = self._path(name)
        await asyncio.to_thread(self._put, name, path, data)

    async def get(self, name: str) -> bytes:
        """Read a whole object; raise StorageError if it is missing."""
        path = self._path(name)
        return await asyncio.to_thread(self._read, name, path, 0, None)

    async def get_range(self, name: str, start: int, end: int) -> bytes:
        """Read bytes ``[start, end)``; a range past the end is cut short."""
        path = self._path(name)
        _check_range(start, end)
        return await asyncio.to_thread(self._read, name, path, start, end - start)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Yield every object whose name starts with ``prefix``, in name order."""
        check_prefix(prefix)
        for info in await asyncio.to_thread(self._scan, prefix):
            yield info

    async def delete(self, name: str) -> None:
        """Remove an object; deleting a missing object is not an error."""
        path = self._path(name)
        await asyncio.to_thread(self._delete, name, path)

    async def usage(self) -> VolumeUsage:
        """Total and free bytes of the file system the directory is on."""
        return await asyncio.to_thread(self._usage)

    # -- hooks for subclasses -------------------------------------------------

    def _reserving(self, name: str, size_bytes: int) -> AbstractContextManager[None]:
        """Held around one write; the block store checks its free-space reserve."""
        return contextlib.nullcontext()

    # -- blocking parts, run in worker threads --------------------------------

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*check_name(name).split("/"))

    def _check(self) -> None:
        try:
            if self.create_root and not self.root.exists():
                self._create_root()
            if not self.root.is_dir():
                raise self._unavailable(self._not_a_directory_reason())
            probe = _fsio.temp_path(self.root / "probe")
            _fsio.write_durably(probe, b"streamweaver write check\n")
            probe.unlink()
            removed = _fsio.remove_stale_temps(self.root)
        except OSError as exc:
            raise self._unavailable(_fsio.describe(exc)) from exc
        if removed:
            log.warning(
                "Removed %d unfinished temporary file(s) that a crashed writer left "
                "in %s; the objects they were for were never complete.",
                removed,
                self.described,
            )

    def _create_root(self) -> None:
        try:
            _fsio.make_dirs(self.root, stop_at=Path(self.root.anchor))
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS):
                reason = _fsio.describe(exc)
            else:
                reason = (exc.strerror or str(exc)).lower()
            raise self._unavailable(f"cannot create the directory: {reason}") from exc

    def _not_a_directory_reason(self) -> str:
        if self.root.exists():
            return "the path is a file, not a directory"
        blocker = _fsio.file_in_the_way(self.root)
        if blocker is not None:
            return f"{blocker} is a file, not a directory"
        return "the directory does not exist"

    def _put(self, name: str, path: Path, data: bytes) -> None:
        try:
            with self._reserving(name, len(data)):
                self._write(path, data)
        except OSError as exc:
            raise self._translate(exc, f"cannot write {name!r}") from exc

    def _write(self, path: Path, data: bytes) -> None:
        stop_at = self.root if not self.create_root else Path(self.root.anchor)
        for attempt in range(_OPEN_ATTEMPTS):
            _fsio.make_dirs(path.parent, stop_at=stop_at)
            try:
                _fsio.write_durably(path, data)
                return
            except FileNotFoundError:
                # A concurrent delete pruned the now-empty directory between
                # creating it and opening the temp file; create it again.
                if attempt == _OPEN_ATTEMPTS - 1 or not self.root.is_dir():
                    raise

    def _read(self, name: str, path: Path, start: int, length: int | None) -> bytes:
        try:
            with path.open("rb") as file:
                if start:
                    file.seek(start)
                return file.read() if length is None else file.read(length)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            if not self.root.is_dir():
                raise self._unavailable("the directory does not exist") from exc
            raise StorageError(
                f"{self.described}: object {name!r} does not exist",
                location=self.location,
            ) from exc
        except OSError as exc:
            raise self._translate(exc, f"cannot read {name!r}") from exc

    def _scan(self, prefix: str) -> list[ObjectInfo]:
        if not self.root.is_dir():
            if self.create_root and not self.root.exists():
                return []  # nothing was ever written here
            raise self._unavailable(self._not_a_directory_reason())
        base = prefix.rpartition("/")[0]
        start = self.root.joinpath(*base.split("/")) if base else self.root
        try:
            found = sorted(self._walk(start, prefix), key=lambda info: info.name)
        except OSError as exc:
            raise self._translate(exc, f"cannot list {prefix!r}") from exc
        return found

    def _walk(self, start: Path, prefix: str) -> Iterator[ObjectInfo]:
        def fail(exc: OSError) -> None:
            if not isinstance(exc, FileNotFoundError):  # a directory pruned meanwhile
                raise exc

        for directory, dirs, files in os.walk(start, onerror=fail):
            rel_dir = Path(directory).relative_to(self.root).as_posix()
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            dirs[:] = [d for d in dirs if _may_hold(rel_dir + d + "/", prefix)]
            for file_name in files:
                name = rel_dir + file_name
                if file_name.startswith(TEMP_MARK) or not name.startswith(prefix):
                    continue
                with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                    stat = os.stat(Path(directory, file_name))
                    modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                    yield ObjectInfo(name, stat.st_size, modified)

    def _delete(self, name: str, path: Path) -> None:
        try:
            try:
                path.unlink()
            except FileNotFoundError:
                return
            # A concurrent delete may have pruned the directory already, which
            # made the removal durable too.
            with contextlib.suppress(FileNotFoundError):
                _fsio.fsync_dir(path.parent)
            _fsio.prune_empty_dirs(path.parent, stop_at=self.root)
        except OSError as exc:
            raise self._translate(exc, f"cannot delete {name!r}") from exc

    def _usage(self) -> VolumeUsage:
        try:
            total, _used, free = shutil.disk_usage(self.root)
        except OSError as exc:
            raise self._unavailable(_fsio.describe(exc)) from exc
        return VolumeUsage(total_bytes=total, free_bytes=free)

    # -- errors ---------------------------------------------------------------

    def _unavailable(self, reason: str) -> StorageUnavailableError:
        return StorageUnavailableError(
            f"{self.described}: {reason}", location=self.location
        )

    def _translate(self, exc: OSError, action: str) -> StorageError:
        message = f"{self.described}: {action}: {_fsio.describe(exc)}"
        if exc.errno in _FULL:
            return StorageFullError(message, location=self.location)
        name_clash = exc.errno in (errno.ENOTDIR, errno.EISDIR) and self.root.is_dir()
        if exc.errno in _UNAVAILABLE and not name_clash:
            return StorageUnavailableError(message, location=self.location)
        return StorageError(message, location=self.location)


def _may_hold(rel_dir: str, prefix: str) -> bool:
    """Whether names under directory ``rel_dir`` (ending in ``/``) can match."""
    return rel_dir.startswith(prefix) or prefix.startswith(rel_dir)


def _check_range(start: int, end: int) -> None:
    if start < 0 or end < start:
        raise ValueError(
            f"byte range [{start}, {end}) is not allowed; "
            "use 0 <= start <= end (end is exclusive)"
        )

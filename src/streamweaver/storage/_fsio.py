"""Durable file operations for the filesystem stores: temp files, fsync, cleanup.

A write goes to a temp file in the object's directory, is fsynced, renamed over
the final name and the directory is fsynced, so after a crash either the old
object or the whole new one is there. Temp file names carry the writer's host
and process ID, so that the startup cleanup removes the leftovers of a dead
writer at once but never the file another live broker is still writing.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import socket
import time
import uuid
from pathlib import Path

from streamweaver.storage._names import TEMP_MARK

STALE_TEMP_S = 600.0
"""A temp file this old is removed even if its writer still seems alive."""

_HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]

_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOENT: "the directory does not exist",
    errno.EIO: "input/output error on the device",
}


def describe(exc: OSError) -> str:
    """A short lower-case reason for an OS error, without the errno noise."""
    if exc.errno == errno.ENOTDIR and exc.filename:
        blocker = file_in_the_way(Path(exc.filename))
        if blocker is not None:
            return f"{blocker} is a file, not a directory"
    reason = _REASONS.get(exc.errno or 0)
    return reason or (exc.strerror or str(exc)).lower()


def file_in_the_way(path: Path) -> Path | None:
    """The first component of ``path`` that exists but is not a directory."""
    for candidate in [*reversed(path.parents), path]:
        if candidate.exists() and not candidate.is_dir():
            return candidate
        if not candidate.exists():
            return None
    return None


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory: Path, *, stop_at: Path) -> None:
    """Create ``directory`` and missing parents down from ``stop_at``, durably.

    ``stop_at`` itself must already exist; each new directory's entry is fsynced
    in its parent so the path survives a crash.
    """
    missing: list[Path] = []
    while not directory.is_dir():
        if directory == stop_at:
            raise FileNotFoundError(errno.ENOENT, "no such directory", str(directory))
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another writer made it first
            path.mkdir()
        fsync_dir(path.parent)


def temp_path(final: Path) -> Path:
    """A fresh temp name next to ``final`` that names this host and process.

    It ends in ``.partial``, never in the final name's suffix: query engines
    that glob the archive (DuckDB's ``**/*.parquet``) read hidden files too, and
    must not see a half-written or orphaned temp file as a segment.
    """
    token = uuid.uuid4().hex[:12]
    tag = f"{TEMP_MARK}{os.getpid()}-{_HOST_TAG}-{token}-{final.name[:80]}.partial"
    return final.with_name(tag)


def write_durably(final: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``final`` atomically: temp file, fsync, rename, fsync dir."""
    temp = temp_path(final)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        with open(fd, "wb", closefd=True) as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(final.parent)


def remove_stale_temps(root: Path, *, now_s: float | None = None) -> int:
    """Remove temp files under ``root`` left by dead writers; return how many."""
    now_s = time.time() if now_s is None else now_s
    removed = 0
    for directory, _dirs, files in os.walk(root):
        for name in files:
            if not name.startswith(TEMP_MARK):
                continue
            path = Path(directory, name)
            with contextlib.suppress(FileNotFoundError):
                if _is_stale(path, name, now_s):
                    path.unlink()
                    removed += 1
    return removed


def _is_stale(path: Path, name: str, now_s: float) -> bool:
    if now_s - path.stat().st_mtime > STALE_TEMP_S:
        return True
    fields = name[len(TEMP_MARK) :].split("-", 3)
    if len(fields) < 3 or not fields[0].isdigit():
        return False  # not ours to judge by owner; only age removes it
    pid, host_tag = int(fields[0]), fields[1]
    return host_tag == _HOST_TAG and not _process_alive(pid)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def prune_empty_dirs(directory: Path, *, stop_at: Path) -> None:
    """Remove ``directory`` and its parents below ``stop_at`` while they are empty."""
    while directory != stop_at and stop_at in directory.parents:
        try:
            directory.rmdir()
            fsync_dir(directory.parent)
        except OSError:
            return  # not empty, or gone already (a concurrent prune): done
        directory = directory.parent

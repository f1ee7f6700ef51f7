"""The ``block`` backend: the archive on a mounted volume, with a free-space reserve.

The directory must exist: if the volume is not mounted, creating the mount
point's directory would silently put the archive on the wrong disk. Before each
write the store checks that the volume keeps at least ``reserve_bytes`` free
afterwards, counting the writes still in flight, and refuses the write whole
otherwise.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from streamweaver.config.model import BlockStorageConfig
from streamweaver.errors import StorageFullError
from streamweaver.storage._fs import FilesystemStore
from streamweaver.units import format_bytes

log = logging.getLogger(__name__)


class BlockStore(FilesystemStore):
    """Archive objects as files on a mounted volume at ``storage.block.path``."""

    kind = "block"
    create_root = False

    def __init__(self, config: BlockStorageConfig) -> None:
        if config.path is None:
            raise ValueError("storage.block.path is required for the block backend")
        super().__init__(config.path)
        self.reserve_bytes = config.reserve_bytes
        self._lock = threading.Lock()
        self._pending_bytes = 0

    def _check(self) -> None:
        super()._check()
        free_bytes = shutil.disk_usage(self.root).free
        if free_bytes < self.reserve_bytes:
            log.warning(
                "%s has %s free, less than the %s that must stay free "
                "(storage.block.reserve); archiving will fail until space is freed.",
                self.described,
                format_bytes(free_bytes),
                format_bytes(self.reserve_bytes),
            )

    @contextmanager
    def _reserving(self, name: str, size_bytes: int) -> Iterator[None]:
        with self._lock:
            free_bytes = shutil.disk_usage(self.root).free - self._pending_bytes
            if free_bytes - size_bytes < self.reserve_bytes:
                raise StorageFullError(
                    f"{self.described} is full: cannot write {name!r} "
                    f"({format_bytes(size_bytes)}) because only "
                    f"{format_bytes(max(free_bytes, 0))} is free and "
                    f"{format_bytes(self.reserve_bytes)} must stay free "
                    "(storage.block.reserve)",
                    location=self.location,
                )
            self._pending_bytes += size_bytes
        try:
            yield
        finally:
            with self._lock:
                self._pending_bytes -= size_bytes

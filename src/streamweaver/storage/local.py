"""The ``local`` backend: the archive in a directory on this machine."""

from __future__ import annotations

from streamweaver.config.model import LocalStorageConfig
from streamweaver.storage._fs import FilesystemStore


class LocalStore(FilesystemStore):
    """Archive objects as files under ``storage.local.path`` (created if missing)."""

    kind = "local"
    create_root = True

    def __init__(self, config: LocalStorageConfig) -> None:
        super().__init__(config.path)

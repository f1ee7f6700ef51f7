"""Archive storage backends: ``local``, ``block`` and ``s3``, behind one interface."""

from __future__ import annotations

from streamweaver.config.model import StorageConfig
from streamweaver.storage.base import ObjectInfo, Store, VolumeUsage


def open_store(config: StorageConfig) -> Store:
    """The backend that ``storage.type`` names, configured but not yet checked."""
    if config.type == "s3":
        from streamweaver.storage.s3 import S3Store

        return S3Store(config.s3)
    if config.type == "block":
        from streamweaver.storage.block import BlockStore

        return BlockStore(config.block)
    from streamweaver.storage.local import LocalStore

    return LocalStore(config.local)


__all__ = ["ObjectInfo", "Store", "VolumeUsage", "open_store"]

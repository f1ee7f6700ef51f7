"""Fixtures for the archive data layer: a local store and a segment index on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio

from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.segment import SegmentMeta, encode_segment
from streamweaver.config.model import LocalStorageConfig
from streamweaver.storage.local import LocalStore


@pytest.fixture
def archive_root(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def archive_store(archive_root: Path) -> LocalStore:
    return LocalStore(LocalStorageConfig(path=archive_root))


@pytest.fixture
def segment_index(ar: redis.asyncio.Redis, archive_store: LocalStore) -> SegmentIndex:
    return SegmentIndex(ar, archive_store)


@pytest.fixture
def archive_segment(archive_store: LocalStore, segment_index: SegmentIndex) -> Callable:
    """Encode entries, put the object and (unless told not to) record it."""

    async def write(stream: str, entries: list, *, record: bool = True) -> SegmentMeta:
        data, meta = encode_segment(stream, entries)
        await archive_store.put(meta.name, data)
        if record:
            await segment_index.record(meta)
        return meta

    return write

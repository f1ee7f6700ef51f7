"""The ``store`` fixture: one fresh, checked store of each backend in turn.

Test modules import it (``from storage_backends import store_fixture``); it is not in a
conftest.py so that ``from conftest import ...`` elsewhere keeps meaning tests/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streamweaver.config.model import StorageConfig
from streamweaver.storage import Store, open_store

BACKENDS = ["local", "block", "s3"]


def storage_config(kind: str, tmp_path: Path, request: pytest.FixtureRequest):
    if kind == "local":
        return StorageConfig(type="local", local={"path": tmp_path / "archive"})
    if kind == "block":
        volume = tmp_path / "volume"
        volume.mkdir(exist_ok=True)
        return StorageConfig(type="block", block={"path": volume, "reserve": 0})
    return StorageConfig(type="s3", s3=request.getfixturevalue("s3_config"))


@pytest.fixture(name="store", params=BACKENDS)
async def store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A checked, empty store of each backend: local, block and s3 (moto)."""
    opened = open_store(storage_config(request.param, tmp_path, request))
    await opened.check()
    return opened

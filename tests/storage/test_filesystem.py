"""What only the filesystem backends do: crash safety, fsync order, startup checks."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from streamweaver.config.model import BlockStorageConfig, LocalStorageConfig
from streamweaver.errors import StorageError, StorageUnavailableError
from streamweaver.storage import _fsio
from streamweaver.storage.block import BlockStore
from streamweaver.storage.local import LocalStore

KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from streamweaver.storage import _fsio

    final = Path(sys.argv[1])
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = _fsio.temp_path(final)
    with open(temp, "wb") as file:
        file.write(b"half of a segm")
        file.flush()
        os.fsync(file.fileno())
    print(temp, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def kill_a_writer_mid_put(final: Path) -> Path:
    """Run a writer in a child process and SIGKILL it between write and rename."""
    result = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(final)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == -9, result.stderr
    return Path(result.stdout.strip())


@pytest.fixture
async def local(tmp_path: Path) -> LocalStore:
    store = LocalStore(LocalStorageConfig(path=tmp_path / "archive"))
    await store.check()
    return store


async def test_a_killed_writer_leaves_nothing_visible(local: LocalStore):
    await local.put("s/seg", b"the complete old version")

    temp = kill_a_writer_mid_put(local.root / "s" / "seg")
    kill_a_writer_mid_put(local.root / "s" / "new")

    assert temp.exists()
    assert [info.name async for info in local.list()] == ["s/seg"]
    assert await local.get("s/seg") == b"the complete old version"
    with pytest.raises(StorageError, match="'s/new' does not exist"):
        await local.get("s/new")


async def test_check_removes_the_temp_files_of_a_killed_writer(local, caplog):
    first = kill_a_writer_mid_put(local.root / "a" / "seg")
    second = kill_a_writer_mid_put(local.root / "b" / "c" / "seg")

    with caplog.at_level(logging.WARNING, logger="streamweaver.storage"):
        await local.check()

    assert not first.exists()
    assert not second.exists()
    assert "Removed 2 unfinished temporary file(s)" in caplog.text


async def test_check_keeps_the_temp_file_a_live_writer_is_still_writing(local):
    temp = _fsio.temp_path(local.root / "seg")  # this process: alive
    temp.write_bytes(b"in progress")

    await local.check()

    assert temp.exists()


async def test_check_removes_an_old_temp_file_even_if_its_writer_lives(local):
    temp = _fsio.temp_path(local.root / "seg")
    temp.write_bytes(b"abandoned")
    long_ago_s = time.time() - _fsio.STALE_TEMP_S - 60
    os.utime(temp, (long_ago_s, long_ago_s))

    await local.check()

    assert not temp.exists()


async def test_put_fsyncs_the_file_before_the_rename_and_the_directory_after(
    local: LocalStore, monkeypatch
):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync")
        real_fsync(fd)

    def replace(src, dst) -> None:
        calls.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    await local.put("new/dir/seg", b"data")

    # Two new directories, each made durable in its parent, then the object.
    assert calls == ["fsync dir", "fsync dir", "fsync", "rename", "fsync dir"]


async def test_a_write_that_fails_leaves_no_temp_file(local: LocalStore):
    await local.put("taken", b"an object where a directory would have to be")

    with pytest.raises(StorageError, match="'taken/seg'") as info:
        await local.put("taken/seg", b"x")

    assert not isinstance(info.value, StorageUnavailableError)
    assert sorted(p.name for p in local.root.rglob("*")) == ["taken"]


async def test_local_creates_a_missing_directory(tmp_path: Path):
    store = LocalStore(LocalStorageConfig(path=tmp_path / "not" / "yet" / "there"))

    await store.check()
    await store.put("seg", b"x")

    assert (tmp_path / "not" / "yet" / "there" / "seg").read_bytes() == b"x"


async def test_local_lists_nothing_before_anything_was_written(tmp_path: Path):
    store = LocalStore(LocalStorageConfig(path=tmp_path / "archive"))

    assert [info async for info in store.list()] == []


async def test_check_names_the_file_that_blocks_the_directory(tmp_path: Path):
    (tmp_path / "a-file").write_text("not a directory")
    path = tmp_path / "a-file" / "archive"

    with pytest.raises(StorageUnavailableError) as info:
        await LocalStore(LocalStorageConfig(path=path)).check()

    assert str(info.value) == (
        f"local storage at {path}: cannot create the directory: "
        f"{tmp_path / 'a-file'} is a file, not a directory"
    )
    assert info.value.location == str(path)


async def test_check_refuses_a_file_in_place_of_the_directory(tmp_path: Path):
    (tmp_path / "archive").write_text("not a directory")

    with pytest.raises(StorageUnavailableError) as info:
        await LocalStore(LocalStorageConfig(path=tmp_path / "archive")).check()

    assert str(info.value) == (
        f"local storage at {tmp_path / 'archive'}: the path is a file, not a directory"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
async def test_check_reports_a_directory_it_may_not_write(tmp_path: Path):
    (tmp_path / "archive").mkdir(mode=0o500)

    with pytest.raises(StorageUnavailableError, match="permission denied"):
        await LocalStore(LocalStorageConfig(path=tmp_path / "archive")).check()


async def test_block_never_creates_its_directory(tmp_path: Path):
    path = tmp_path / "mnt" / "volume"
    store = BlockStore(BlockStorageConfig(path=path, reserve=0))

    with pytest.raises(StorageUnavailableError) as info:
        await store.check()
    with pytest.raises(StorageUnavailableError, match="does not exist"):
        await store.put("seg", b"x")

    assert str(info.value) == f"block storage at {path}: the directory does not exist"
    assert not path.exists()


async def test_block_refuses_a_write_that_would_eat_into_the_reserve(tmp_path: Path):
    free_bytes = shutil.disk_usage(tmp_path).free
    store = BlockStore(BlockStorageConfig(path=tmp_path, reserve=free_bytes + 10**9))

    with pytest.raises(StorageError) as info:
        await store.put("seg", b"x" * 1000)

    assert type(info.value).__name__ == "StorageFullError"
    message = str(info.value)
    assert message.startswith(f"block storage at {tmp_path} is full: cannot write")
    assert "is free and" in message
    assert "must stay free (storage.block.reserve)" in message
    assert os.listdir(tmp_path) == []


async def test_block_writes_while_the_reserve_stays_free(tmp_path: Path):
    free_bytes = shutil.disk_usage(tmp_path).free
    store = BlockStore(BlockStorageConfig(path=tmp_path, reserve=free_bytes - 10**8))

    await store.put("seg", b"x" * 1000)

    assert await store.get("seg") == b"x" * 1000


async def test_block_counts_writes_in_flight_against_the_reserve(tmp_path: Path):
    size_bytes = 20 * 10**6
    free_bytes = shutil.disk_usage(tmp_path).free
    reserve_bytes = free_bytes - size_bytes - size_bytes // 2  # room for one write
    store = BlockStore(BlockStorageConfig(path=tmp_path, reserve=reserve_bytes))

    results = await asyncio.gather(
        store.put("one", b"1" * size_bytes),
        store.put("two", b"2" * size_bytes),
        return_exceptions=True,
    )

    failures = [r for r in results if isinstance(r, Exception)]
    assert [type(f).__name__ for f in failures] == ["StorageFullError"]
    assert len(os.listdir(tmp_path)) == 1


async def test_usage_matches_the_file_system(tmp_path: Path):
    store = BlockStore(BlockStorageConfig(path=tmp_path, reserve=0))

    usage = await store.usage()

    assert usage.total_bytes == shutil.disk_usage(tmp_path).total
    assert 0 < usage.free_bytes <= usage.total_bytes


async def test_block_check_warns_when_the_volume_is_already_below_the_reserve(
    tmp_path: Path, caplog
):
    free_bytes = shutil.disk_usage(tmp_path).free
    store = BlockStore(BlockStorageConfig(path=tmp_path, reserve=free_bytes * 2))

    with caplog.at_level(logging.WARNING, logger="streamweaver.storage"):
        await store.check()

    assert "must stay free (storage.block.reserve)" in caplog.text

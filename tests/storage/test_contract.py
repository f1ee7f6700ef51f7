"""The behaviour every storage backend shares, run against local, block and s3."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest
from storage_backends import BACKENDS, storage_config, store_fixture  # noqa: F401

from streamweaver.errors import StorageError, StorageUnavailableError
from streamweaver.storage import ObjectInfo, Store, VolumeUsage, open_store
from streamweaver.storage.block import BlockStore
from streamweaver.storage.local import LocalStore
from streamweaver.storage.s3 import S3Store


async def names(store: Store, prefix: str = "") -> list[str]:
    return sorted([info.name async for info in store.list(prefix)])


@pytest.mark.parametrize(
    ("kind", "cls"), [("local", LocalStore), ("block", BlockStore), ("s3", S3Store)]
)
def test_open_store_builds_the_backend_the_config_names(kind, cls, tmp_path, request):
    store = open_store(storage_config(kind, tmp_path, request))

    assert isinstance(store, cls)
    assert isinstance(store, Store)
    assert store.kind == kind


async def test_an_object_reads_back_exactly_as_written(store: Store):
    data = os.urandom(100_000)

    await store.put("orders/2024/seg-0001.parquet", data)

    assert await store.get("orders/2024/seg-0001.parquet") == data


async def test_a_larger_object_reads_back_whole(store: Store):
    data = os.urandom(6 * 1024 * 1024)  # above obstore's 5 MiB multipart threshold

    await store.put("big/seg.parquet", data)

    assert await store.get("big/seg.parquet") == data
    assert [i.size_bytes async for i in store.list("big/")] == [len(data)]


async def test_an_empty_object_is_an_object(store: Store):
    await store.put("empty", b"")

    assert await store.get("empty") == b""
    assert await names(store) == ["empty"]


async def test_get_range_returns_the_bytes_from_start_up_to_end(store: Store):
    await store.put("r/seg", b"0123456789")

    assert await store.get_range("r/seg", 0, 4) == b"0123"
    assert await store.get_range("r/seg", 6, 10) == b"6789"
    assert await store.get_range("r/seg", 3, 3) == b""


async def test_get_range_past_the_end_is_cut_short(store: Store):
    await store.put("r/seg", b"0123456789")

    assert await store.get_range("r/seg", 8, 100) == b"89"
    assert await store.get_range("r/seg", 10, 20) == b""
    assert await store.get_range("r/seg", 50, 60) == b""


@pytest.mark.parametrize(("start", "end"), [(-1, 4), (5, 4)])
async def test_get_range_rejects_a_backwards_or_negative_range(store, start, end):
    await store.put("r/seg", b"0123456789")

    with pytest.raises(ValueError, match="byte range"):
        await store.get_range("r/seg", start, end)


async def test_put_replaces_an_object_with_the_same_name(store: Store):
    await store.put("s/seg", b"first version, longer")
    await store.put("s/seg", b"second")

    assert await store.get("s/seg") == b"second"
    assert [i.size_bytes async for i in store.list("s/")] == [6]


async def test_list_matches_the_prefix_as_a_string(store: Store):
    for name in ["a/b.txt", "a/bc/x", "a/b/c", "a/c", "ab", "z"]:
        await store.put(name, b"x")

    assert await names(store) == ["a/b.txt", "a/b/c", "a/bc/x", "a/c", "ab", "z"]
    assert await names(store, "a/b") == ["a/b.txt", "a/b/c", "a/bc/x"]
    assert await names(store, "a/b/") == ["a/b/c"]
    assert await names(store, "a") == ["a/b.txt", "a/b/c", "a/bc/x", "a/c", "ab"]
    assert await names(store, "nothing/") == []
    assert await names(store, "a/bz") == []


async def test_list_reports_size_and_modification_time(store: Store):
    before = datetime.now(UTC) - timedelta(seconds=5)
    await store.put("m/seg", b"12345")

    [info] = [i async for i in store.list("m/")]

    assert isinstance(info, ObjectInfo)
    assert (info.name, info.size_bytes) == ("m/seg", 5)
    assert info.modified is not None
    assert before <= info.modified <= datetime.now(UTC) + timedelta(seconds=5)


async def test_delete_removes_an_object_and_a_missing_one_is_fine(store: Store):
    await store.put("d/one", b"1")
    await store.put("d/two", b"2")

    await store.delete("d/one")
    await store.delete("d/one")
    await store.delete("never/was")

    assert await names(store) == ["d/two"]
    await store.put("d/one", b"again")  # the directory may have been pruned
    assert await store.get("d/one") == b"again"


async def test_reading_a_missing_object_says_which_one(store: Store):
    await store.put("present", b"x")

    for read in (store.get("gone/seg"), store.get_range("gone/seg", 0, 4)):
        with pytest.raises(StorageError, match="'gone/seg' does not exist") as info:
            await read
        assert not isinstance(info.value, StorageUnavailableError)
        assert info.value.location == store.location


BAD_NAMES = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/./b",
    "a//b",
    "a/",
    "nul\x00byte",
    "back\\..\\slash",
    ".swtmp-1-abc-def-x",
    "a/.swtmp-probe",
]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_names_that_could_escape_the_root_are_rejected(store: Store, name):
    with pytest.raises(ValueError, match="is not allowed"):
        await store.put(name, b"x")
    for call in (store.get(name), store.get_range(name, 0, 1), store.delete(name)):
        with pytest.raises(ValueError, match="is not allowed"):
            await call

    assert await names(store) == []


@pytest.mark.parametrize("prefix", ["/", "../", "a/../", "\x00"])
async def test_list_rejects_a_prefix_that_could_escape_the_root(store, prefix):
    with pytest.raises(ValueError, match="is not allowed"):
        await anext(aiter(store.list(prefix)))


async def test_a_second_store_on_the_same_place_sees_the_objects(
    store: Store, tmp_path, request
):
    await store.put("shared/seg", b"data")

    other = open_store(storage_config(store.kind, tmp_path, request))
    await other.check()

    assert await other.get("shared/seg") == b"data"


async def test_concurrent_puts_and_deletes_in_one_directory_all_succeed(store: Store):
    await asyncio.gather(*(store.put(f"c/seg-{i:03}", b"%d" % i) for i in range(40)))

    # Deleting the last object of a directory races with writing into it.
    await asyncio.gather(
        *(store.delete(f"c/seg-{i:03}") for i in range(40)),
        *(store.put(f"c/new-{i:03}", b"n") for i in range(40)),
    )

    assert await names(store, "c/") == [f"c/new-{i:03}" for i in range(40)]


async def test_usage_is_the_volume_size_or_none_for_s3(store: Store):
    usage = await store.usage()

    if store.kind == "s3":
        assert usage is None
    else:
        assert isinstance(usage, VolumeUsage)
        assert 0 < usage.free_bytes <= usage.total_bytes


def test_every_backend_is_covered():
    assert sorted(BACKENDS) == ["block", "local", "s3"]

"""The trimmer in-process, against the real Valkey, index and a local store."""

from __future__ import annotations

import time

import pytest

from streamweaver import keys
from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.rawread import raw_client
from streamweaver.archive.segment import encode_segment
from streamweaver.config import config_from_mapping
from streamweaver.config.model import LocalStorageConfig
from streamweaver.monitoring import metrics
from streamweaver.retention.ids import parse_id
from streamweaver.retention.task import expire_segments
from streamweaver.retention.trimmer import Trimmer
from streamweaver.storage.local import LocalStore

pytestmark = pytest.mark.redis_compat  # the trim script and XRANGE ranges on Redis 7

HOUR_AGO_MS = int(time.time() * 1000) - 3_600_000
NODE_ENTRIES = 100
TRIM_ARCHIVED = {"policy": "time", "max_age": "1m"}
"""Everything archived is older than a minute (IDs from an hour ago): trim it all."""


@pytest.fixture
def store(tmp_path):
    return LocalStore(LocalStorageConfig(path=tmp_path / "archive"))


@pytest.fixture
def index(ar, store):
    return SegmentIndex(ar, store)


@pytest.fixture
async def raw(redis_config):
    client = raw_client(redis_config)
    yield client
    await client.aclose()


def make_trimmer(raw, index, **sections):
    config = config_from_mapping(sections, source="test")

    async def archived_until(stream):
        until = await index.archived_until(stream)
        return parse_id(until) if until else None

    return Trimmer(config, raw, archived_until)


def produce(r, stream, n, *, start_ms=HOUR_AGO_MS):
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(stream, {"n": str(i)}, id=f"{start_ms + i}-0")
    return [i.decode() for i in pipe.execute()]


async def archive(r, store, index, stream, first, last):
    entries = [(i, list(f.items())) for i, f in r.xrange(stream, first, last)]
    data, meta = encode_segment(stream, entries)
    await store.put(meta.name, data)
    await index.record(meta)
    return meta


def unconsumed(stream, group):
    value = metrics.REGISTRY.get_sample_value(
        "streamweaver_trimmed_unconsumed_messages_total",
        {"stream": stream, "group": group},
    )
    return value or 0


async def test_entries_that_are_not_archived_are_never_trimmed(r, raw, store, index):
    ids = produce(r, "s", 500)
    await archive(r, store, index, "s", ids[0], ids[199])

    await make_trimmer(raw, index, retention=TRIM_ARCHIVED).check("s")

    kept = [i.decode() for i, _ in r.xrange("s")]
    assert set(ids[200:]) <= set(kept)
    assert len(kept) < 300 + NODE_ENTRIES


async def test_nothing_is_trimmed_before_anything_is_archived(r, raw, index):
    produce(r, "s", 300)

    trimmed = await make_trimmer(raw, index, retention=TRIM_ARCHIVED).check("s")

    assert trimmed == 0
    assert r.xlen("s") == 300


async def test_trimmed_unread_messages_are_counted_per_group(r, raw, store, index):
    ids = produce(r, "u", 500)
    r.xgroup_create("u", "slow", id=ids[49])
    r.xgroup_create("u", "holey", id=ids[49])
    r.xdel("u", ids[450])  # a hole: XINFO has no lag for it, so XRANGE counts
    await archive(r, store, index, "u", ids[0], ids[-1])
    slow_before, holey_before = unconsumed("u", "slow"), unconsumed("u", "holey")

    trimmed = await make_trimmer(raw, index, retention=TRIM_ARCHIVED).check("u")

    unread_trimmed = trimmed - 50
    assert trimmed > 50
    assert unconsumed("u", "slow") - slow_before == unread_trimmed
    assert unconsumed("u", "holey") - holey_before == unread_trimmed


async def test_a_broker_with_a_stale_lease_epoch_cannot_trim(r, raw, store, index):
    ids = produce(r, "s", 300)
    await archive(r, store, index, "s", ids[0], ids[-1])
    r.hset(keys.stream_lease("s"), mapping={"owner": "other", "epoch": 7})

    trimmer = make_trimmer(raw, index, retention=TRIM_ARCHIVED)
    stale = await trimmer.check("s", epoch=6)
    current = await trimmer.check("s", epoch=7)

    assert stale == 0
    assert current > 0


async def test_segments_past_the_archive_max_age_leave_index_and_store(r, store, index):
    ids = produce(r, "s", 300)
    old = await archive(r, store, index, "s", ids[0], ids[99])
    new = await archive(r, store, index, "s", ids[100], ids[-1])
    config = config_from_mapping(
        {"archive": {"max_age": f"{(time.time() * 1000 - HOUR_AGO_MS) / 1000 - 5}s"}},
        source="test",
    )
    # Both segments are about an hour old; move the newer one to "now".
    r.delete("s")
    fresh = produce(r, "s", 10, start_ms=int(time.time() * 1000))
    newest = await archive(r, store, index, "s", fresh[0], fresh[-1])

    removed = await expire_segments(index, ["s"], config)

    names = [info.name async for info in store.list("")]
    assert removed == 2
    assert [m.name for m in await index.segments("s")] == [newest.name]
    assert names == [newest.name]
    assert old.name not in names
    assert new.name not in names


async def test_a_count_cap_stops_at_the_archived_point_when_archival_lags(
    r, raw, store, index
):
    ids = produce(r, "s", 500)
    await archive(r, store, index, "s", ids[0], ids[299])

    trimmer = make_trimmer(raw, index, redis={"stream_max_length": 100})
    await trimmer.check("s")

    kept = [i.decode() for i, _ in r.xrange("s")]
    assert set(ids[300:]) <= set(kept)
    assert len(kept) < 200 + NODE_ENTRIES

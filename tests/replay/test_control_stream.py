"""Replay requested with a plain XADD to sw:control, as any client could."""

import pytest

from replay.helpers import (
    archive,
    eventually,
    finished,
    produce,
    raw_range,
    submit,
)

pytestmark = pytest.mark.redis_compat  # the Lua scripts on Redis 7 too


async def test_a_plain_xadd_replays_archive_and_redis_with_the_original_ids(
    ar, start_broker
):
    config = await start_broker()
    ids = await produce(ar, "orders", 1000)
    await archive(config, "orders", trim_keep=200)
    ids += await produce(ar, "orders", 100, start=1000)

    job_id = await submit(ar, stream="orders")
    job = await finished(ar, job_id)

    assert job["state"] == "done", job
    assert job["target"] == f"orders:replay:{job_id}"
    replayed = await ar.xrange(job["target"])
    assert [entry_id for entry_id, _ in replayed] == ids
    assert [fields[b"n"] for _, fields in replayed] == [
        str(n).encode() for n in range(1100)
    ]
    assert int(job["replayed"]) == int(job["total"]) == 1100


async def test_a_range_inside_the_archive_replays_exactly_that_range(ar, start_broker):
    config = await start_broker()
    ids = await produce(ar, "orders", 900)
    await archive(config, "orders", trim_keep=0)

    job_id = await submit(
        ar, stream="orders", **{"from": ids[250].decode(), "to": ids[640].decode()}
    )
    job = await finished(ar, job_id)

    assert job["state"] == "done", job
    assert [i for i, _ in await ar.xrange(job["target"])] == ids[250:641]


async def test_append_mode_into_the_source_gives_new_ids_and_records_the_origin(
    ar, start_broker
):
    await start_broker()
    ids = await produce(ar, "orders", 50)

    job_id = await submit(ar, stream="orders", target="orders", mode="append")
    job = await finished(ar, job_id)

    assert job["state"] == "done", job
    entries = await ar.xrange("orders")
    assert len(entries) == 100
    copies = entries[50:]
    assert all(new_id > ids[-1] for new_id, _ in copies)
    assert [fields[b"sw:origin-id"] for _, fields in copies] == ids
    assert {fields[b"sw:origin-stream"] for _, fields in copies} == {b"orders"}
    assert [fields[b"n"] for _, fields in copies] == [
        fields[b"n"] for _, fields in entries[:50]
    ]


async def test_a_replay_of_a_replay_keeps_one_origin_header(ar, start_broker):
    config = await start_broker()
    await produce(ar, "orders", 5)
    first = await finished(
        ar, await submit(ar, stream="orders", target="copy", mode="append")
    )
    assert first["state"] == "done", first

    second = await finished(
        ar, await submit(ar, stream="copy", target="copy2", mode="append")
    )

    assert second["state"] == "done", second
    copies = await raw_range(config, "copy")
    for (copy_id, _), (_, fields) in zip(
        copies, await raw_range(config, "copy2"), strict=True
    ):
        names = fields[::2]
        assert names.count(b"sw:origin-id") == 1
        assert fields[names.index(b"sw:origin-id") * 2 + 1] == copy_id


async def test_preserving_ids_into_a_stream_that_is_ahead_is_refused(ar, start_broker):
    await start_broker()
    await produce(ar, "orders", 10)
    await ar.xadd("busy", {"a": "1"})
    before = await ar.xrange("busy")

    job = await finished(ar, await submit(ar, stream="orders", target="busy"))

    assert job["state"] == "rejected"
    assert job["error"] == "target_ahead"
    assert "mode 'append'" in job["message"]
    assert await ar.xrange("busy") == before


async def test_a_target_that_is_not_a_stream_is_refused_and_left_alone(
    ar, start_broker
):
    await start_broker()
    await produce(ar, "orders", 10)
    await ar.set("plain", "value")

    job = await finished(ar, await submit(ar, stream="orders", target="plain"))

    assert job["state"] == "rejected"
    assert job["error"] == "target_not_stream"
    assert "is a string, not a stream" in job["message"]
    assert await ar.get("plain") == b"value"


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"stream": "nope"}, "unknown_stream", "there is no stream 'nope'"),
        ({"stream": "orders", "from": "yesterday"}, "invalid_from", "neither"),
        ({"stream": "orders", "to": "12-ab"}, "invalid_to", "stream ID"),
        (
            {"stream": "orders", "from": "-1h", "to": "-2h"},
            "invalid_range",
            "is after 'to'",
        ),
        ({"stream": "orders", "from": "1-0", "to": "2-0"}, "empty_range", "no entries"),
        ({"stream": "orders", "pace": "slow"}, "invalid_pace", "original*K"),
        ({"stream": "orders", "rate": "-5"}, "invalid_rate", "positive"),
        ({"stream": "orders", "mode": "copy"}, "invalid_mode", "'append'"),
        ({"stream": "orders", "strem": "x"}, "unknown_field", "'strem'"),
        ({}, "missing_stream", "names no stream"),
        ({"stream": "orders", "batch_size": "5000"}, "invalid_batch_size", "limit"),
    ],
)
async def test_a_bad_request_is_rejected_with_its_reason_and_writes_nothing(
    ar, start_broker, fields, error, words
):
    await start_broker()
    await produce(ar, "orders", 10)

    job_id = await submit(ar, **fields)
    job = await finished(ar, job_id)

    assert job["state"] == "rejected"
    assert job["error"] == error
    assert words in job["message"]
    assert not await ar.exists(f"orders:replay:{job_id}")


async def test_a_stream_known_only_to_the_archive_can_be_replayed(ar, start_broker):
    config = await start_broker()
    ids = await produce(ar, "old", 400)
    await archive(config, "old")
    await ar.delete("old")

    job = await finished(ar, await submit(ar, stream="old"))

    assert job["state"] == "done", job
    assert [i for i, _ in await ar.xrange(job["target"])] == ids


async def test_replay_disabled_rejects_requests_with_the_reason(ar, start_broker):
    await start_broker(replay={"enabled": False})
    await produce(ar, "orders", 10)

    job = await finished(ar, await submit(ar, stream="orders"))

    assert job["state"] == "rejected"
    assert job["error"] == "disabled"
    assert "replay.enabled is false" in job["message"]


async def test_a_request_with_an_id_is_submitted_once(ar, start_broker):
    await start_broker()
    await produce(ar, "orders", 10)

    await submit(ar, stream="orders", id="nightly-1")
    await submit(ar, stream="orders", id="nightly-1")
    job = await finished(ar, "nightly-1")

    assert job["state"] == "done"
    assert await ar.xlen("orders:replay:nightly-1") == 10
    assert await ar.zrange("sw:replay:jobs", 0, -1) == [b"nightly-1"]


async def test_a_target_ttl_expires_the_replayed_stream(ar, start_broker):
    await start_broker()
    await produce(ar, "orders", 10)

    job = await finished(ar, await submit(ar, stream="orders", target_ttl="1h"))

    assert job["state"] == "done"
    assert 3500 < await ar.ttl(job["target"]) <= 3600


async def test_finished_jobs_expire_after_the_job_ttl(ar, start_broker):
    await start_broker(replay={"job_ttl": "2h"})
    await produce(ar, "orders", 10)

    job_id = await submit(ar, stream="orders")
    await finished(ar, job_id)

    assert 7100 < await ar.ttl(f"sw:replay:job:{job_id}") <= 7200


async def test_entries_archived_and_trimmed_during_the_replay_are_not_missed(
    ar, start_broker
):
    config = await start_broker()
    ids = await produce(ar, "orders", 300)
    await archive(config, "orders")
    ids += await produce(ar, "orders", 300, start=300)
    job_id = await submit(ar, stream="orders", rate="300", batch_size="50")
    await eventually(lambda: ar.hget(f"sw:replay:job:{job_id}", "last_target_id"))

    # While the job paces through the archived part, the rest is archived
    # and Redis trimmed empty: the job must find it in the archive.
    await archive(config, "orders", trim_keep=0)
    assert await ar.hget(f"sw:replay:job:{job_id}", "state") == b"running"
    job = await finished(ar, job_id)

    assert job["state"] == "done", job
    assert [i for i, _ in await ar.xrange(job["target"])] == ids

"""A replay runner that lost its job to another broker can write nothing more."""

from __future__ import annotations

from streamweaver import keys
from streamweaver.replay.writer import BatchWriter


def writer(ar, claim: int) -> BatchWriter:
    return BatchWriter(
        ar,
        job_id="j1",
        target="copy",
        stream="orders",
        mode="preserve",
        claim=claim,
        ttl_s=None,
        progress_ttl_s=60,
    )


def batch(first_ms: int, count: int):
    return [
        (f"{first_ms + i}-0".encode(), [b"n", str(i).encode()]) for i in range(count)
    ]


async def test_the_new_runner_resumes_where_the_old_one_committed(ar):
    old = writer(ar, claim=1)
    assert await old.fence("a") is not None
    assert (await old.commit(batch(1000, 5))).status == "ok"

    new = writer(ar, claim=2)
    progress = await new.fence("b")

    assert progress is not None
    assert (progress.cursor, progress.replayed) == ("1004-0", 5)


async def test_a_stale_runner_is_refused_once_the_new_one_fenced(ar):
    old = writer(ar, claim=1)
    await old.fence("a")
    new = writer(ar, claim=2)
    await new.fence("b")

    refused = await old.commit(batch(1000, 5))
    accepted = await new.commit(batch(1000, 5))

    assert refused.status == "lost"
    assert accepted.status == "ok"
    assert await ar.xlen("copy") == 5
    assert await old.fence("a") is None  # an older claim can never fence again


async def test_the_progress_lives_in_the_target_slot(ar):
    progress_key = keys.replay_progress("orders:replay:j1", "j1")
    assert keys.hash_tag(progress_key) == "orders:replay:j1"
    tagged = keys.replay_progress("copy:{t1}", "j1")
    assert keys.hash_tag(tagged) == "t1"

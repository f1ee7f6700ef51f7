"""Pacing: a rate limit, and the original spacing of messages sped up by a factor."""

import itertools

import pytest

from replay.helpers import finished, submit
from streamweaver.replay.pacing import Pacer
from streamweaver.replay.request import Pace, ReplayRejectedError, parse_pace


def id_ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-")[0])


def test_a_rate_spaces_messages_evenly_from_the_first():
    pacer = Pacer(Pace(), rate_per_s=4, clock=lambda: 100.0)

    assert [pacer.due_s(0) for _ in range(5)] == [100.0, 100.25, 100.5, 100.75, 101.0]


def test_original_pacing_keeps_the_gaps_between_ids_divided_by_the_speedup():
    pacer = Pacer(Pace(original=True, speedup=10), clock=lambda: 0.0)

    due = [pacer.due_s(ms) for ms in (5_000, 5_000, 6_000, 16_000)]

    assert due == [0.0, 0.0, 0.1, 1.1]


def test_with_both_a_message_waits_for_the_later_of_the_two():
    pacer = Pacer(Pace(original=True), rate_per_s=2, clock=lambda: 0.0)

    assert [pacer.due_s(ms) for ms in (0, 0, 3_000)] == [0.0, 0.5, 3.0]


@pytest.mark.parametrize(
    ("text", "pace"),
    [
        ("fast", Pace()),
        ("original", Pace(original=True)),
        ("original*10", Pace(original=True, speedup=10)),
        ("original * 2.5", Pace(original=True, speedup=2.5)),
    ],
)
def test_pace_is_parsed(text, pace):
    assert parse_pace(text) == pace


@pytest.mark.parametrize("text", ["slow", "original*0", "original*x", "x10"])
def test_a_bad_pace_is_refused(text):
    with pytest.raises(ReplayRejectedError, match="original\\*K"):
        parse_pace(text)


async def test_a_rate_limit_holds_on_a_live_replay(ar, start_broker):
    await start_broker()
    pipe = ar.pipeline(transaction=False)
    for n in range(101):
        pipe.xadd("orders", {"n": str(n)})
    await pipe.execute()

    job = await finished(
        ar, await submit(ar, stream="orders", target="c", mode="append", rate="200")
    )

    assert job["state"] == "done", job
    copies = [entry_id for entry_id, _ in await ar.xrange("c")]
    # 100 intervals at 200/s take 500 ms from the first message's due time;
    # the first write may itself land a little late, hence the slack below.
    assert 400 <= id_ms(copies[-1]) - id_ms(copies[0]) < 3000


async def test_original_pacing_replays_the_recorded_rhythm_faster(ar, start_broker):
    await start_broker()
    gaps_ms = [0, 200, 200, 400, 800, 200]
    at_ms = 1_700_000_000_000
    for n, gap_ms in enumerate(gaps_ms):
        at_ms += gap_ms
        await ar.xadd("orders", {"n": str(n)}, id=f"{at_ms}-0")

    job = await finished(
        ar,
        await submit(ar, stream="orders", target="c", mode="append", pace="original*4"),
    )

    assert job["state"] == "done", job
    times = [id_ms(entry_id) for entry_id, _ in await ar.xrange("c")]
    offsets_ms = list(itertools.accumulate(gaps_ms))
    for offset_ms, at in zip(offsets_ms, times, strict=True):
        assert at - times[0] >= offset_ms / 4 - 100
    assert times[-1] - times[0] < 3000

"""Plain reads by ID and time, and following a stream with tail."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from streamweaver import InvalidIdError


def ids_of(messages):
    return [m.id for m in messages]


@pytest.fixture
def timeline(r):
    for ms in (1000, 2000, 2000, 3000):
        r.xadd("s", {"at": str(ms)}, id=f"{ms}-*")
    return ["1000-0", "2000-0", "2000-1", "3000-0"]


@pytest.mark.redis_compat
def test_read_returns_everything_oldest_first(client, timeline):
    assert ids_of(client.read("s")) == timeline


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2000-1", "+", ["2000-1", "3000-0"]),
        ("-", "2000-0", ["1000-0", "2000-0"]),
        ("-", "2000", ["1000-0", "2000-0", "2000-1"]),
        (2000, 2000, ["2000-0", "2000-1"]),
        (
            datetime(1970, 1, 1, 0, 0, 2, tzinfo=UTC),
            "+",
            ["2000-0", "2000-1", "3000-0"],
        ),
        ("1970-01-01T00:00:02.5Z", "+", ["3000-0"]),
    ],
)
def test_read_starts_and_ends_at_ids_and_times_inclusively(
    client, timeline, start, end, expected
):
    assert ids_of(client.read("s", start, end)) == expected


def test_read_from_a_relative_time_skips_older_messages(client, r):
    r.xadd("s", {"old": "1"}, id="1000-0")
    recent = client.produce("s", {"new": "1"})

    assert ids_of(client.read("s", start="-15m")) == [recent]


def test_read_pages_through_long_streams_and_honours_count(client):
    ids = client.produce_batch("s", [{"n": i} for i in range(25)])

    assert ids_of(client.read("s", batch_size=4)) == ids
    assert ids_of(client.read("s", count=10, batch_size=4)) == ids[:10]
    assert ids_of(client.read("s", count=0)) == []


def test_reading_a_missing_stream_yields_nothing(client):
    assert list(client.read("missing")) == []


def test_read_refuses_bad_positions_before_touching_redis(client):
    with pytest.raises(InvalidIdError, match="cannot start a range"):
        client.read("s", start="$")
    with pytest.raises(InvalidIdError, match="-2h"):
        client.read("s", end="soon")


def test_tail_yields_only_messages_added_after_it_started(client):
    client.produce("s", {"n": "old"})
    tail = client.tail("s", block_ms=50)
    client.produce_batch("s", [{"n": "new1"}, {"n": "new2"}])

    assert [next(tail).fields["n"], next(tail).fields["n"]] == ["new1", "new2"]


def test_tail_follows_messages_produced_while_it_waits(client):
    tail = client.tail("s", block_ms=50)
    producer = threading.Timer(0.05, client.produce, ("s", {"n": "later"}))
    producer.start()

    assert next(tail).fields == {"n": "later"}
    producer.join()


def test_tail_from_an_id_includes_it_then_follows(client, timeline):
    tail = client.tail("s", start="2000-1", block_ms=50)
    assert [next(tail).id, next(tail).id] == ["2000-1", "3000-0"]
    new_id = client.produce("s", {"n": "live"})
    assert next(tail).id == new_id


def test_stop_ends_a_tail(client):
    tail = client.tail("s", start="0", block_ms=50)
    client.stop()
    client.produce("s", {"n": 1})
    assert list(tail) == []

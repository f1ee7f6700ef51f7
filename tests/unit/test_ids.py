"""Stream IDs and positions, checked against the vectors in spec/ids.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from streamweaver.client.ids import (
    MAX_ID,
    StreamId,
    compare_ids,
    end_bound,
    id_from_datetime,
    id_from_ms,
    id_to_datetime,
    is_valid_id,
    last_seen_id,
    next_id,
    parse_id,
    parse_time_ms,
    previous_id,
    start_bound,
)
from streamweaver.errors import InvalidIdError

VECTORS = json.loads(
    (Path(__file__).parents[2] / "spec" / "ids.json").read_text(encoding="utf-8")
)
NOW_MS = VECTORS["now_ms"]


@pytest.mark.parametrize("case", VECTORS["parse"], ids=lambda c: c["input"])
def test_ids_parse_into_milliseconds_and_sequence(case):
    assert parse_id(case["input"]) == StreamId(case["ms"], case["seq"])
    assert is_valid_id(case["input"])


@pytest.mark.parametrize("text", VECTORS["parse_errors"])
def test_malformed_ids_are_refused_saying_what_an_id_looks_like(text):
    with pytest.raises(InvalidIdError, match="stream ID"):
        parse_id(text)
    assert not is_valid_id(text)


@pytest.mark.parametrize(("given", "expected"), VECTORS["next"])
def test_the_next_id_is_the_smallest_after(given, expected):
    assert next_id(given) == expected


@pytest.mark.parametrize(("given", "expected"), VECTORS["previous"])
def test_the_previous_id_is_the_largest_before(given, expected):
    assert previous_id(given) == expected


@pytest.mark.parametrize("given", VECTORS["next_errors"])
def test_nothing_comes_after_the_largest_id(given):
    with pytest.raises(InvalidIdError, match="largest"):
        next_id(given)


@pytest.mark.parametrize("given", VECTORS["previous_errors"])
def test_nothing_comes_before_the_smallest_id(given):
    with pytest.raises(InvalidIdError, match="smallest"):
        previous_id(given)


@pytest.mark.parametrize(("a", "b", "order"), VECTORS["compare"])
def test_ids_compare_numerically_not_as_text(a, b, order):
    assert compare_ids(a, b) == order
    assert compare_ids(b, a) == -order


@pytest.mark.parametrize("case", VECTORS["positions"], ids=lambda c: str(c["input"]))
def test_positions_resolve_to_range_bounds_and_group_ids(case):
    for role, resolve in (
        ("start", start_bound),
        ("end", end_bound),
        ("after", last_seen_id),
    ):
        if case[role] is None:
            with pytest.raises(InvalidIdError):
                resolve(case["input"], now_ms=NOW_MS)
        else:
            assert resolve(case["input"], now_ms=NOW_MS) == case[role], role


@pytest.mark.parametrize("value", VECTORS["position_errors"])
def test_malformed_positions_are_refused_listing_what_is_allowed(value):
    for resolve in (start_bound, end_bound, last_seen_id):
        with pytest.raises(
            InvalidIdError, match=r"-2h|milliseconds|1970|at most"
        ) as caught:
            resolve(value, now_ms=NOW_MS)
        assert isinstance(caught.value, ValueError)


def test_datetimes_become_ids_in_utc():
    aware = datetime(2023, 11, 14, 23, 13, 20, tzinfo=timezone(timedelta(hours=1)))
    assert id_from_datetime(aware) == "1700000000000-0"
    assert id_from_datetime(datetime(2023, 11, 14, 22, 13, 20)) == "1700000000000-0"
    assert start_bound(aware) == "1700000000000-0"


def test_an_id_tells_when_its_entry_was_added():
    assert id_to_datetime("1700000000000-9") == datetime(
        2023, 11, 14, 22, 13, 20, tzinfo=UTC
    )


def test_relative_times_count_back_from_now():
    assert parse_time_ms("-2h", now_ms=NOW_MS) == NOW_MS - 7_200_000
    assert parse_time_ms("-1000d", now_ms=1000) == 0


def test_epoch_milliseconds_must_be_a_non_negative_integer():
    assert id_from_ms(5, 2) == "5-2"
    for bad in (-1, True, 1.5):
        with pytest.raises(InvalidIdError, match="epoch milliseconds"):
            id_from_ms(bad)  # type: ignore[arg-type]


def test_stream_ids_order_and_step_like_redis():
    assert StreamId(5, 1) < StreamId(5, 2) < StreamId(6, 0)
    assert str(StreamId(5, 0).previous()) == "4-18446744073709551615"
    assert parse_id("7", default_seq=MAX_ID.seq) == StreamId(7, MAX_ID.seq)
    assert parse_id(b"1-2") == StreamId(1, 2)


def test_a_position_of_another_type_is_refused():
    with pytest.raises(InvalidIdError, match="not a position"):
        start_bound(1.5)  # type: ignore[arg-type]

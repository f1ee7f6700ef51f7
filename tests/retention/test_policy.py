from streamweaver.config import config_from_mapping
from streamweaver.retention.policy import (
    COUNT,
    MAX_LENGTH,
    SIZE,
    TIME,
    GroupState,
    decide,
    excess_entries,
    group_floor,
    group_is_idle,
    retention_for,
    time_minid,
)


def config(**sections):
    return config_from_mapping(sections, source="test")


def test_the_first_matching_override_wins_and_fills_in_only_its_keys():
    cfg = config(
        retention={"policy": "time", "max_age": "1h", "protect_unacked": True},
        redis={"stream_max_length": 1000},
        streams={
            "overrides": {
                "orders:*": {"policy": "count", "max_length": 50},
                "orders:eu": {"policy": "size"},
            }
        },
    )

    eu = retention_for("orders:eu", cfg)
    other = retention_for("audit", cfg)

    assert (eu.policy, eu.max_length, eu.max_age_s) == (COUNT, 50, 3600)
    assert eu.protect_unacked is True
    assert eu.hard_max_length == 1000
    assert (other.policy, other.max_length) == (TIME, 1000)


def test_zero_stream_max_length_means_no_cap():
    rule = retention_for("s", config(redis={"stream_max_length": 0}))

    assert rule.hard_max_length is None
    assert excess_entries(rule, 10**9, None) == {}


def test_time_policy_points_at_entries_older_than_max_age():
    rule = retention_for("s", config(retention={"max_age": "10s"}))

    assert time_minid(rule, now_ms=100_000) == (90_000, 0)
    count_rule = retention_for("s", config(retention={"policy": "count"}))
    assert time_minid(count_rule, now_ms=100_000) is None


def test_size_policy_estimates_entries_from_average_memory_per_entry():
    rule = retention_for("s", config(retention={"policy": "size", "max_size": 1000}))

    # 100 entries in 2000 bytes: 20 bytes each, 1000 bytes over means 50 entries.
    assert excess_entries(rule, 100, 2000) == {SIZE: 50}
    assert excess_entries(rule, 100, 900) == {}


def test_stream_max_length_applies_whatever_the_policy():
    rule = retention_for(
        "s", config(retention={"policy": "time"}, redis={"stream_max_length": 10})
    )

    assert excess_entries(rule, 25, None) == {MAX_LENGTH: 15}


def test_trim_point_never_passes_the_entry_after_the_last_archived_one():
    decision = decide({TIME: (500, 0)}, first_id=(1, 0), archived_until=(99, 4))

    assert decision.minid == (99, 5)
    assert decision.held_by_archive
    assert decision.wanted == (500, 0)


def test_nothing_is_trimmed_before_anything_is_archived():
    decision = decide({MAX_LENGTH: (500, 0)}, first_id=(1, 0), archived_until=None)

    assert decision.minid is None
    assert decision.held_by_archive


def test_a_point_at_or_below_the_first_entry_trims_nothing():
    decision = decide({TIME: (5, 0)}, first_id=(5, 0), archived_until=(900, 0))

    assert decision.minid is None
    assert not decision.held_by_archive


def test_the_largest_policy_point_wins():
    decision = decide(
        {TIME: (50, 0), MAX_LENGTH: (70, 0)}, first_id=(1, 0), archived_until=(900, 0)
    )

    assert (decision.minid, decision.reason) == ((70, 0), MAX_LENGTH)


def test_an_active_group_holds_the_policy_but_not_the_hard_cap():
    floor, holder = group_floor(
        [
            GroupState("billing", (30, 0), oldest_pending=(20, 1), idle=False),
            GroupState("stale", (2, 0), oldest_pending=None, idle=True),
        ]
    )
    held = decide(
        {TIME: (50, 0)},
        first_id=(1, 0),
        archived_until=(900, 0),
        floor=floor,
        floor_holder=holder,
    )
    capped = decide(
        {TIME: (50, 0), MAX_LENGTH: (40, 0)},
        first_id=(1, 0),
        archived_until=(900, 0),
        floor=floor,
        floor_holder=holder,
    )

    assert (floor, holder) == ((20, 1), "billing")
    assert (held.minid, held.held_by_group) == ((20, 1), "billing")
    assert (capped.minid, capped.reason) == ((40, 0), MAX_LENGTH)


def test_a_group_floor_keeps_entries_after_the_last_delivered_one():
    floor, _ = group_floor([GroupState("g", (30, 7), oldest_pending=None, idle=False)])

    assert floor == (30, 8)


def test_a_group_is_idle_only_when_no_consumer_was_seen_within_the_timeout():
    assert not group_is_idle([5_000, 900_000], None, timeout_s=60)
    assert group_is_idle([61_000, 900_000], None, timeout_s=60)
    assert not group_is_idle([], empty_for_s=10, timeout_s=60)
    assert group_is_idle([], empty_for_s=61, timeout_s=60)
    assert not group_is_idle([], empty_for_s=None, timeout_s=60)


def test_a_fully_archived_stream_is_not_reported_as_held_by_archival():
    decision = decide(
        {TIME: (500, 0)}, first_id=(90, 0), archived_until=(99, 4), last_id=(99, 4)
    )

    assert decision.minid == (99, 5)
    assert not decision.held_by_archive

"""The trim forecast follows the formulas in docs/metrics.md."""

from __future__ import annotations

import math

from streamweaver.monitoring.forecast import seconds_until_trim
from streamweaver.monitoring.snapshot import ConsumerStats, GroupStats, StreamStats
from streamweaver.retention.policy import StreamRetention


def rule(**changes) -> StreamRetention:
    values = {
        "policy": "time",
        "max_age_s": 3600.0,
        "max_size_bytes": 10_000,
        "max_length": None,
        "hard_max_length": None,
        "protect_unacked": False,
        "group_idle_timeout_s": 600.0,
    }
    return StreamRetention(**{**values, **changes})


def stream(growth_per_s: float = 10.0, length: int = 1000) -> StreamStats:
    return StreamStats(
        name="s",
        length=length,
        entries_added=length,
        memory_bytes=length * 100,
        first_id=None,
        last_id=None,
        oldest_age_s=None,
        newest_age_s=None,
        dead_letters=0,
        growth_per_s=growth_per_s,
    )


def group(lag: int | None = 200, lag_s: float = 600.0, idle_s: float = 1.0):
    consumers = [ConsumerStats("c", pending=0, idle_s=idle_s)]
    return GroupStats("g", consumers, 0, "0-0", lag=lag, lag_s=lag_s)


def test_time_policy_counts_down_from_the_oldest_unread_entry() -> None:
    assert seconds_until_trim(rule(), stream(), group(lag_s=600)) == 3000


def test_count_policy_divides_the_room_left_by_the_growth_rate() -> None:
    count = rule(policy="count", max_length=1000)

    assert seconds_until_trim(count, stream(growth_per_s=10), group(lag=200)) == 80
    assert seconds_until_trim(count, stream(), group(lag=1200)) == 0
    assert seconds_until_trim(count, stream(growth_per_s=0), group()) == math.inf


def test_size_policy_turns_the_size_limit_into_entries() -> None:
    size = rule(policy="size", max_size_bytes=50_000)  # 100 bytes an entry: 500

    assert seconds_until_trim(size, stream(growth_per_s=5), group(lag=100)) == 80


def test_nothing_unread_is_never_trimmed() -> None:
    assert seconds_until_trim(rule(), stream(), group(lag=0)) == math.inf


def test_protect_unacked_leaves_only_the_hard_cap_for_active_groups() -> None:
    protected = rule(protect_unacked=True, hard_max_length=2000)

    assert seconds_until_trim(protected, stream(), group(lag=200)) == 180
    uncapped = rule(protect_unacked=True)
    assert seconds_until_trim(uncapped, stream(), group(idle_s=1)) == math.inf
    idle = group(lag_s=600, idle_s=3600)  # past group_idle_timeout: unprotected
    assert seconds_until_trim(uncapped, stream(), idle) == 3000

"""Consumer groups: where they start, and the errors Redis reports about them."""

from __future__ import annotations

import pytest

from streamweaver import (
    GroupExistsError,
    GroupNotFoundError,
    InvalidIdError,
    StreamNotFoundError,
)
from streamweaver.errors import GroupError

FAST = {"block_ms": 50, "claim_idle_ms": 200, "count": 10}


def ids_in(r, stream, *ids):
    for entry_id in ids:
        r.xadd(stream, {"at": entry_id}, id=entry_id)


def first_batch(client, group):
    with client.consume("s", group, "c", create_group=False, **FAST) as consumer:
        batch = []
        for message in consumer:
            batch.append(message.id)
            message.ack()
            if len(batch) == 3 or message.id == "3000-0":
                consumer.stop()
        return batch


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("0", ["1000-0", "2000-0", "3000-0"]),
        ("-", ["1000-0", "2000-0", "3000-0"]),
        ("2000-0", ["2000-0", "3000-0"]),
        ("1999", ["2000-0", "3000-0"]),
        (2000, ["2000-0", "3000-0"]),
        ("1970-01-01T00:00:02Z", ["2000-0", "3000-0"]),
    ],
)
def test_a_group_created_at_a_position_delivers_from_it_inclusive(
    client, r, start, expected
):
    ids_in(r, "s", "1000-0", "2000-0", "3000-0")

    assert client.create_group("s", "g", start) is True

    assert first_batch(client, "g") == expected


def test_a_group_created_at_the_end_delivers_only_new_messages(client, r):
    ids_in(r, "s", "1000-0")
    client.create_group("s", "g", "$")
    r.xadd("s", {"at": "new"}, id="3000-0")

    assert first_batch(client, "g") == ["3000-0"]


def test_creating_a_group_twice_fails_unless_allowed(client):
    client.create_group("s", "g")
    with pytest.raises(GroupExistsError, match="'g' already exists") as caught:
        client.create_group("s", "g")
    assert caught.value.group == "g"
    assert caught.value.stream == "s"
    assert client.create_group("s", "g", exist_ok=True) is False


def test_a_group_needs_its_stream_unless_the_stream_is_made(client, r):
    with pytest.raises(StreamNotFoundError, match="'s' does not exist"):
        client.create_group("s", "g", mkstream=False)
    client.create_group("s", "g")
    assert r.exists("s")


def test_consuming_from_a_missing_group_says_how_to_fix_it(client):
    client.produce("s", {"a": "b"})
    consumer = client.consume("s", "nope", "c", create_group=False, **FAST)
    with pytest.raises(GroupNotFoundError, match="create_group"):
        next(iter(consumer))


def test_deleting_a_group_reports_whether_it_existed(client):
    client.create_group("s", "g")
    assert client.delete_group("s", "g") is True
    assert client.delete_group("s", "g") is False


def test_bad_positions_and_names_are_refused(client):
    with pytest.raises(InvalidIdError, match="-2h"):
        client.create_group("s", "g", "yesterday")
    with pytest.raises(GroupError, match="non-empty"):
        client.create_group("s", "")
    with pytest.raises(GroupError, match="consumer name"):
        client.consume("s", "g", "")

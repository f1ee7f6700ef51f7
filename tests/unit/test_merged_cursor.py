"""Where each partition of a logical replay resumes after a cursor."""

from streamweaver.client.ids import StreamId
from streamweaver.replay.merged import cursor_of, parse_cursor, resume_after


def test_a_cursor_names_the_last_written_entry_and_its_partition():
    assert cursor_of(("1700000000000-3", [b"n", b"1"], 2)) == "1700000000000-3/2"
    assert parse_cursor("1700000000000-3/2") == (StreamId(1700000000000, 3), 2)
    assert parse_cursor("") is None


def test_partitions_up_to_the_cursors_resume_after_its_id():
    position = parse_cursor("5-3/1")
    assert resume_after(position, 0) == StreamId(5, 3)
    assert resume_after(position, 1) == StreamId(5, 3)


def test_later_partitions_still_get_an_entry_with_the_cursors_own_id():
    # Merged order is (ID, partition): partition 2's 5-3 comes after 5-3/1.
    assert resume_after(parse_cursor("5-3/1"), 2) == StreamId(5, 2)
    assert resume_after(parse_cursor("5-0/0"), 1) == StreamId(4, 2**64 - 1)


def test_without_a_cursor_every_partition_starts_at_the_beginning():
    assert resume_after(None, 3) == StreamId(0, 0)

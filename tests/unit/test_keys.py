import pytest

from streamweaver import keys


def slot_source(key: str) -> str:
    return keys.hash_tag(key) or key


@pytest.mark.parametrize(
    "stream", ["orders", "orders:eu", "a b", "orders:p0:{x7}", "{t}"]
)
def test_per_stream_keys_hash_to_the_same_slot_as_the_stream(stream):
    for key in (
        keys.archive_state(stream),
        keys.segment_index(stream),
        keys.stream_lease(stream),
        keys.trim_stats(stream),
    ):
        assert slot_source(key) == slot_source(stream)
        assert keys.is_internal(key)


def test_per_stream_keys_of_different_streams_differ():
    names = ["a", "b", "{a}", "{a}x", "a:segments", "x{a}"]
    built = {keys.segment_index(name) for name in names}
    assert len(built) == len(names)


def test_hash_tags_follow_the_cluster_rule():
    assert keys.hash_tag("orders") is None
    assert keys.hash_tag("{user1}.following") == "user1"
    assert keys.hash_tag("foo{}{bar}") is None
    assert keys.hash_tag("foo{{bar}}") == "{bar"
    assert keys.hash_tag("foo{bar}{zap}") == "bar"


def test_user_keys_are_not_internal():
    assert not keys.is_internal("orders")
    assert keys.is_internal(b"sw:control")

import pytest

from streamweaver.errors import StreamError
from streamweaver.partitioning import declare, logical_streams, lookup


async def test_a_declared_stream_is_found_by_any_client(ar):
    declared = await declare(ar, "orders", 3)

    assert await lookup(ar, "orders") == declared
    assert await lookup(ar, "payments") is None
    assert await logical_streams(ar) == {"orders": declared}


async def test_declaring_again_with_the_same_count_is_a_no_op(ar):
    first = await declare(ar, "orders", 3)

    assert await declare(ar, "orders", 3) == first


async def test_changing_the_partition_count_is_refused(ar):
    await declare(ar, "orders", 3)

    with pytest.raises(StreamError, match="already has 3 partitions"):
        await declare(ar, "orders", 4)

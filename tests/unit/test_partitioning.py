import pytest
from redis.crc import key_slot

from streamweaver import keys
from streamweaver.errors import InvalidStreamNameError, StreamError
from streamweaver.partitioning import partition_index, partition_names


def test_six_partitions_fall_into_six_different_slot_ranges():
    names = partition_names("orders", 6)

    ranges = [key_slot(name.encode()) * 6 // 16384 for name in names]

    assert ranges == [0, 1, 2, 3, 4, 5]
    assert names[0].startswith("orders:p0:{orders:")


def test_partition_names_are_stable_and_their_keys_share_their_slot():
    names = partition_names("clicks", 4)

    assert names == partition_names("clicks", 4)
    for name in names:
        assert key_slot(keys.segment_index(name).encode()) == key_slot(name.encode())


def test_a_key_always_goes_to_the_same_partition():
    assert partition_index("customer-42", 6) == partition_index(b"customer-42", 6)
    assert partition_index("customer-42", 6) == 5  # CRC-32 0x49FDA815 mod 6
    spread = {partition_index(f"k{i}", 6) for i in range(100)}
    assert spread == set(range(6))


def test_bad_partition_counts_and_names_are_refused():
    with pytest.raises(StreamError, match="1 to 1024 partitions, not 0"):
        partition_names("orders", 0)
    with pytest.raises(InvalidStreamNameError, match="braces"):
        partition_names("{orders}", 2)

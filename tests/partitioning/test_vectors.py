"""The partitioning vectors in spec/partitioning/ hold for the Python client."""

import json
import zlib
from pathlib import Path

import pytest
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from streamweaver.client._partitioned_membership import owned_partitions
from streamweaver.coordination.assignment import _rank, assign
from streamweaver.partitioning import Partitioning, partition_index, partition_names

VECTORS = json.loads(
    (Path(__file__).parents[2] / "spec/partitioning/vectors.json").read_text("utf-8")
)


@pytest.mark.parametrize(
    "case", VECTORS["names"], ids=lambda c: f"{c['stream']}-{c['count']}"
)
def test_partition_names_match_the_vectors(case):
    assert list(partition_names(case["stream"], case["count"])) == case["names"]


@pytest.mark.parametrize(
    "case", VECTORS["names"], ids=lambda c: f"{c['stream']}-{c['count']}"
)
def test_each_partition_lies_in_its_own_slot_range(case):
    count = case["count"]
    for index, name in enumerate(case["names"]):
        slot = key_slot(name.encode())
        assert slot == case["slots"][index]
        assert index * REDIS_CLUSTER_HASH_SLOTS // count <= slot
        assert slot < (index + 1) * REDIS_CLUSTER_HASH_SLOTS // count


@pytest.mark.parametrize("case", VECTORS["routing"], ids=lambda c: repr(c["key"]))
def test_keys_route_to_the_partitions_of_the_vectors(case):
    assert zlib.crc32(case["key"].encode()) == case["crc32"]
    assert partition_index(case["key"], case["count"]) == case["partition"]
    assert case["crc32"] % case["count"] == case["partition"]


def test_the_crc_is_the_ieee_one():
    check = next(c for c in VECTORS["routing"] if c["key"] == "123456789")
    assert check["crc32"] == 0xCBF43926


@pytest.mark.parametrize("case", VECTORS["ranks"], ids=lambda c: c["member"])
def test_ranks_match_the_vectors(case):
    assert str(_rank(case["partition"], case["member"])) == case["rank"]


@pytest.mark.parametrize("case", VECTORS["assignment"], ids=lambda c: c["case"])
def test_assignments_match_the_vectors(case):
    assert assign(case["partitions"], case["members"]) == case["assignment"]


@pytest.mark.parametrize("case", VECTORS["assignment"], ids=lambda c: c["case"])
def test_each_consumer_reads_what_the_assignment_gives_it(case):
    partitioning = Partitioning("s", tuple(case["partitions"]))
    for member in case["members"]:
        mine = owned_partitions(partitioning, case["members"], member)
        expected = [p for p in case["partitions"] if case["assignment"][p] == member]
        assert list(mine) == expected
        assert len(mine) <= -(-len(case["partitions"]) // len(case["members"]))

import subprocess
import sys

import pytest

from streamweaver.archive import faults

SCRIPT = """
from streamweaver.archive import faults
for i in range(5):
    print(i, flush=True)
    faults.hit("after_put")
"""


def test_fault_specs_name_points_and_hit_counts():
    assert faults.parse("after_put:2, before_put") == {"after_put": 2, "before_put": 1}
    assert faults.parse("") == {}


@pytest.mark.parametrize("spec", ["nowhere", "after_put:0", "after_put:x"])
def test_a_bad_fault_spec_is_refused_with_the_allowed_points(spec):
    with pytest.raises(ValueError, match="STREAMWEAVER_FAULT"):
        faults.parse(spec)


def test_an_armed_point_kills_the_process_at_the_chosen_hit():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={"STREAMWEAVER_FAULT": "after_put:3"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == -9
    assert result.stdout.split() == ["0", "1", "2"]


def test_without_the_variable_nothing_happens():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env={}, capture_output=True, check=False
    )

    assert result.returncode == 0

"""Stream names become one safe, reversible path component; segments get Hive paths."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from streamweaver.archive.layout import (
    escape_stream,
    parse_segment_name,
    segment_name,
    stream_prefix,
    unescape_stream,
)
from streamweaver.errors import InvalidIdError, InvalidStreamNameError

HOSTILE = [
    "../x",
    "a/b",
    "orders:eu",
    ".",
    "..",
    "\x00",
    "a\x00b",
    "%",
    "%41",
    "=",
    "date=2024-01-01",
    " ",
    " leading and trailing ",
    "Orders",
    "orders",
    "ORDERS",
    "oRdErS",
    "café",
    "日本語ストリーム",
    "emoji-🚀",
    "\udcff\udcfe",  # bytes that are not UTF-8, decoded with surrogateescape
    "caf\udce9",
    "~",
    "a~1",
    "Orders~1",
    "_hidden",
    ".hidden",
    "trailing.",
    "con",
    "NUL.txt",
    "com1",
    "back\\slash",
    "*?[]{}",
    "{orders}:p0",
    "sw:{orders}:segments",
    "\n\r\t",
    "x" * 80,
]
_SAFE_CHARS = set(string.ascii_letters + string.digits + "-_.%~")


def _random_names(count: int) -> list[str]:
    rng = random.Random(20240501)
    alphabet = [*list("aAzZ09:/.%=~_- \\\x00{}*?"), "é", "ß", "İ", "ﬀ", "🚀", "İ"]
    names = []
    for _ in range(count):
        kind = rng.random()
        length = rng.randint(1, 24)
        if kind < 0.6:
            name = "".join(rng.choice(alphabet) for _ in range(length))
        elif kind < 0.8:
            raw = bytes(rng.randrange(256) for _ in range(length))
            name = raw.decode("utf-8", "surrogateescape")
        else:
            name = "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(length))
            name = name.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        names.append(name)
    return names


NAMES = HOSTILE + _random_names(3000)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_maps_back_to_the_same_stream(name: str) -> None:
    assert unescape_stream(escape_stream(name)) == name


def test_generated_names_round_trip_and_stay_one_safe_component() -> None:
    for name in NAMES:
        component = escape_stream(name)
        assert unescape_stream(component) == name, name
        assert set(component) <= _SAFE_CHARS, (name, component)
        assert component not in ("", ".", "..")
        assert not component.startswith((".", "_")), (name, component)
        assert not component.endswith("."), (name, component)
        assert len(component.encode()) <= 255


def test_distinct_names_never_collide_even_on_a_case_insensitive_filesystem() -> None:
    names = set(NAMES)
    folded = {escape_stream(name).casefold() for name in names}
    assert len(folded) == len(names)


def test_escaped_names_stay_inside_the_archive_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for name in HOSTILE:
        directory = root / escape_stream(name)
        directory.mkdir()
        assert directory.resolve().parent == root.resolve()
    assert len(list(root.iterdir())) == len(set(HOSTILE))


def test_colon_is_escaped_and_plain_names_stay_readable() -> None:
    assert escape_stream("orders:eu") == "orders%3Aeu"
    assert escape_stream("order-events_v2.json") == "order-events_v2.json"
    assert escape_stream("Orders") == "Orders~1"
    assert stream_prefix("orders:eu") == "orders%3Aeu/"


@pytest.mark.parametrize(
    "component", ["Orders", "orders%3aeu", "a~0", "a~1", "%2", "", "x%ZZ", "~1", ".."]
)
def test_a_component_the_archive_would_not_write_is_refused(component: str) -> None:
    with pytest.raises(InvalidStreamNameError):
        unescape_stream(component)


def test_empty_and_overlong_names_are_refused_with_a_reason() -> None:
    with pytest.raises(InvalidStreamNameError, match="non-empty"):
        escape_stream("")
    with pytest.raises(InvalidStreamNameError, match="too long"):
        escape_stream("é" * 100)


def test_a_segment_is_named_by_stream_date_hour_and_id_range() -> None:
    name = segment_name("orders:eu", "1714564800000-0", "1714568399999-7")
    assert name == (
        "orders%3Aeu/date=2024-05-01/hour=12/1714564800000-0_1714568399999-7.parquet"
    )
    assert parse_segment_name(name) == (
        "orders:eu",
        "1714564800000-0",
        "1714568399999-7",
    )


def test_segment_names_parse_back_for_every_hostile_stream() -> None:
    for stream in HOSTILE:
        name = segment_name(stream, "5-1", "18446744073709551615-18446744073709551615")
        assert parse_segment_name(name) == (
            stream,
            "5-1",
            "18446744073709551615-18446744073709551615",
        )


@pytest.mark.parametrize(
    "name",
    [
        "orders/date=2024-05-02/hour=12/1714564800000-0_1714564800000-1.parquet",
        "orders/date=2024-05-01/hour=13/1714564800000-0_1714564800000-1.parquet",
        "orders/date=2024-05-01/hour=12/1714564800000-0_1714564800000-1.json",
        "orders/date=2024-05-01/hour=12/1714564800000_1714564800000-1.parquet",
        "orders/date=2024-05-01/hour=12/1714564800001-0_1714564800000-0.parquet",
        "orders/date=2024-05-01/hour=12/01714564800000-0_1714564800000-0.parquet",
        "Orders/date=2024-05-01/hour=12/1714564800000-0_1714564800000-0.parquet",
        "orders/x/date=2024-05-01/hour=12/1714564800000-0_1714564800000-0.parquet",
        "orders/date=2024-05-01/hour=12/.swtmp-1714564800000-0_1714564800000-0.parquet",
    ],
)
def test_a_name_that_is_not_a_canonical_segment_name_is_not_parsed(name: str) -> None:
    assert parse_segment_name(name) is None


def test_a_segment_cannot_end_before_it_starts() -> None:
    with pytest.raises(InvalidIdError):
        segment_name("s", "5-1", "5-0")

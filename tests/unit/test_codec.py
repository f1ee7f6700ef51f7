"""The value encoding, checked against the language-neutral vectors in spec/."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import streamweaver.errors
from streamweaver.client import _ops
from streamweaver.client.codec import (
    EncodedMessage,
    decode_message,
    encode_message,
)
from streamweaver.client.names import check_stream
from streamweaver.errors import (
    DecodingError,
    EncodingError,
    InvalidStreamNameError,
    MessageTooLargeError,
)

VECTORS = json.loads(
    (Path(__file__).parents[2] / "spec" / "encoding.json").read_text(encoding="utf-8")
)


def typed(value: dict[str, Any]) -> object:
    ((kind, raw),) = value.items()
    converters = {
        "str": str,
        "int": int,
        "float": float,
        "bool": bool,
        "null": lambda _: None,
        "bytes": bytes.fromhex,
        "json": lambda v: v,
    }
    return converters[kind](raw)


def stored(value: str | dict[str, str]) -> bytes:
    return bytes.fromhex(value["hex"]) if isinstance(value, dict) else value.encode()


def fields_of(case: dict[str, Any]) -> dict[str, object]:
    return {name: typed(value) for name, value in case["fields"]}


def flat_of(pairs: list[list[Any]]) -> list[bytes]:
    return [stored(item) for pair in pairs for item in pair]


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    return type(a) is type(b) and a == b


def by_name(cases: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("case", cases, ids=[c["name"] for c in cases])


@by_name(VECTORS["round_trip"])
def test_fields_encode_to_the_vector_pairs(case):
    headers = dict(case.get("headers", []))
    encoded = encode_message(fields_of(case), headers or None)
    assert list(encoded.flat) == flat_of(case["pairs"])


@by_name(VECTORS["round_trip"] + VECTORS["decode"])
def test_vector_pairs_decode_to_the_fields(case):
    fields, headers = decode_message(flat_of(case["pairs"]))
    expected = fields_of(case)
    assert list(fields) == list(expected)
    for name, value in expected.items():
        assert same(fields[name], value), name
    assert headers == dict(case.get("headers", []))


@by_name(VECTORS["encode_errors"])
def test_invalid_messages_are_refused(case):
    with pytest.raises(getattr(streamweaver.errors, case["error"])):
        encode_message(fields_of(case), dict(case.get("headers", [])) or None)


@by_name(VECTORS["decode_errors"])
def test_malformed_entries_are_refused_naming_the_field(case):
    with pytest.raises(getattr(streamweaver.errors, case["error"])) as caught:
        decode_message(flat_of(case["pairs"]), stream="s", message_id="1-1")
    assert caught.value.stream == "s"
    assert caught.value.message_id == "1-1"


@by_name(VECTORS["size_limit"]["cases"])
def test_the_size_limit_counts_every_encoded_byte(case):
    encoded = encode_message(fields_of(case))
    assert encoded.size_bytes == case["size"]
    if case["error"] is None:
        _ops.prepare("s", fields_of(case), None, case["max_message_bytes"])
    else:
        with pytest.raises(MessageTooLargeError, match="max_message_bytes"):
            _ops.prepare("s", fields_of(case), None, case["max_message_bytes"])


@pytest.mark.parametrize("name", VECTORS["stream_names"]["valid"])
def test_valid_stream_names_are_accepted(name):
    assert check_stream(name) == name


@pytest.mark.parametrize("name", VECTORS["stream_names"]["invalid"])
def test_empty_and_reserved_stream_names_are_refused(name):
    with pytest.raises(InvalidStreamNameError, match=r"empty|reserved"):
        check_stream(name)


def test_a_stream_name_must_be_text():
    with pytest.raises(InvalidStreamNameError, match="str"):
        check_stream(b"orders")


@pytest.mark.parametrize(
    ("value", "kind"),
    [({1, 2}, "set"), ((1, 2), "tuple"), (object(), "object"), (1j, "complex")],
)
def test_an_unsupported_value_raises_a_type_error_naming_the_field(value, kind):
    with pytest.raises(EncodingError, match=f"'price'.*{kind}") as caught:
        encode_message({"ok": "x", "price": value})
    assert isinstance(caught.value, TypeError)
    assert caught.value.field == "price"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": (1, 2)}, r"order\['a'\] is a tuple"),
        ({"a": {1: "x"}}, r"has the key 1"),
        ([1, float("nan")], r"order\[1\] is nan"),
        ([b"raw"], r"order\[0\] is a bytes"),
    ],
)
def test_values_inside_json_must_survive_json_unchanged(value, problem):
    with pytest.raises(EncodingError, match=problem):
        encode_message({"order": value})


def test_deeply_nested_json_is_refused_rather_than_crashing():
    value: list[Any] = []
    for _ in range(500):
        value = [value]
    with pytest.raises(EncodingError, match="nested deeper"):
        encode_message({"deep": value})


def test_text_that_is_not_valid_unicode_is_refused_with_advice():
    with pytest.raises(EncodingError, match="pass bytes"):
        encode_message({"s": "\ud800"})


def test_field_names_must_be_text():
    with pytest.raises(EncodingError, match="field names are str"):
        encode_message({1: "x"})  # type: ignore[dict-item]


def test_fields_must_be_a_mapping():
    with pytest.raises(EncodingError, match="mapping"):
        encode_message([("a", "b")])  # type: ignore[arg-type]


def test_subclasses_of_the_supported_types_encode_as_their_base_type():
    import enum

    class Colour(enum.StrEnum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    fields, _ = decode_message(
        encode_message({"c": Colour.RED, "l": Level.HIGH, "b": bytearray(b"x")}).flat
    )
    assert fields == {"c": "red", "l": 3, "b": b"x"}


def test_headers_can_be_added_to_an_encoded_message_replacing_old_values():
    message = encode_message({"a": 1}, {"sw:origin-id": "1-1"})
    updated = message.with_headers({"sw:origin-id": "2-2", "sw:dlq-reason": "x"})
    assert updated.pairs == [
        (b"a", b"1"),
        (b"sw:types", b'{"a":"int"}'),
        (b"sw:origin-id", b"2-2"),
        (b"sw:dlq-reason", b"x"),
    ]


def test_encoded_messages_wrap_pairs_copied_from_elsewhere():
    copied = EncodedMessage.from_pairs([("a", b"\x00"), (b"sw:types", '{"a":"bytes"}')])
    assert decode_message(copied.flat)[0] == {"a": b"\x00"}
    assert copied == EncodedMessage((b"a", b"\x00", b"sw:types", b'{"a":"bytes"}'))


def test_an_already_encoded_message_still_obeys_the_size_limit():
    with pytest.raises(MessageTooLargeError):
        _ops.prepare("s", EncodedMessage((b"a", b"x" * 100)), None, 50)


def test_decoding_errors_are_value_errors():
    with pytest.raises(ValueError, match="'n'"):
        decode_message([b"n", b"x", b"sw:types", b'{"n":"int"}'])
    assert issubclass(DecodingError, ValueError)

"""One field value to its stored bytes and back (the table is in :mod:`.codec`)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from streamweaver.errors import DecodingError, EncodingError

Value = str | int | float | bool | None | bytes | dict[str, Any] | list[Any]
"""A field value the encoding can carry."""

ALLOWED_TYPES = "str, int, float, bool, None, bytes, dict or list"

_MAX_JSON_DEPTH = 200
_FLOAT = re.compile(
    r"^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$|^(?:nan|-?inf)$", re.IGNORECASE
)


def encode_value(value: object, *, field: str = "?") -> tuple[bytes, str | None]:
    """Encode one value; return the stored bytes and its type name (None for str)."""
    if isinstance(value, str):
        return utf8(value, field), None
    if isinstance(value, bool):
        return (b"true" if value else b"false"), "bool"
    if isinstance(value, int):
        try:
            return str(int(value)).encode(), "int"
        except ValueError as exc:  # more digits than int-to-str conversion allows
            raise EncodingError(f"field {field!r}: {exc}", field=field) from None
    if isinstance(value, float):
        return repr(float(value)).encode(), "float"
    if value is None:
        return b"", "null"
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value), "bytes"
    if isinstance(value, dict | list):
        return _json_value(value, field), "json"
    raise EncodingError(
        f"field {field!r}: cannot encode a value of type {type(value).__name__}; "
        f"allowed: {ALLOWED_TYPES}",
        field=field,
    )


def decode_value(
    raw: bytes,
    type_name: str | None,
    *,
    field: str = "?",
    stream: str | None = None,
    message_id: str | None = None,
) -> Value:
    """Decode one stored value given its type name from ``sw:types``."""
    try:
        return _DECODERS[type_name or "str"](raw)
    except KeyError:
        problem = f"unknown type {type_name!r}"
    except (ValueError, UnicodeDecodeError) as exc:
        problem = f"not a valid {type_name} value ({exc})"
    where = f" of {stream}/{message_id}" if stream else ""
    raise DecodingError(
        f"field {field!r}{where}: {problem}",
        stream=stream,
        message_id=message_id,
        field=field,
    )


def utf8(text: str, field: str) -> bytes:
    """The UTF-8 bytes of a text, or an EncodingError naming the field."""
    try:
        return text.encode()
    except UnicodeEncodeError as exc:
        raise EncodingError(
            f"field {field!r}: the text is not encodable as UTF-8 ({exc.reason} at "
            f"position {exc.start}); pass bytes for binary data",
            field=field,
        ) from None


def _check_json(value: object, field: str, path: str, depth: int) -> None:
    if depth > _MAX_JSON_DEPTH:
        raise EncodingError(
            f"field {field!r}: nested deeper than {_MAX_JSON_DEPTH} levels at {path}",
            field=field,
        )
    if isinstance(value, str | int | None):  # bool is an int
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EncodingError(
                f"field {field!r}: {path} is {value!r}, which JSON cannot hold; "
                "store it in a float field of its own",
                field=field,
            )
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError(
                    f"field {field!r}: {path} has the key {key!r}; "
                    "keys inside dict values must be str",
                    field=field,
                )
            _check_json(item, field, f"{path}[{key!r}]", depth + 1)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, field, f"{path}[{index}]", depth + 1)
        return
    raise EncodingError(
        f"field {field!r}: {path} is a {type(value).__name__}; inside dict and "
        "list values only str, int, float, bool, None, dict and list are allowed",
        field=field,
    )


def json_bytes(value: object) -> bytes:
    """Compact JSON in UTF-8, as the encoding stores it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _json_value(value: object, field: str) -> bytes:
    _check_json(value, field, field, 0)
    try:
        return json_bytes(value)
    except ValueError as exc:  # an int with more digits than Python converts
        raise EncodingError(f"field {field!r}: {exc}", field=field) from None


def plain(raw: bytes) -> str | bytes:
    """An untyped value: text if it is UTF-8, else the bytes themselves."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw  # binary written by another client without sw:types


def _decode_int(raw: bytes) -> int:
    text = raw.decode("ascii")
    if not text or not (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
        raise ValueError(f"{text!r} is not a decimal integer")
    return int(text)


def _decode_float(raw: bytes) -> float:
    text = raw.decode("ascii")
    if not _FLOAT.match(text):
        raise ValueError(f"{text!r} is not a decimal float, nan, inf or -inf")
    return float(text)


def _decode_bool(raw: bytes) -> bool:
    if raw == b"true":
        return True
    if raw == b"false":
        return False
    raise ValueError(f"{raw[:20]!r} is neither true nor false")


def _decode_null(raw: bytes) -> None:
    if raw:
        raise ValueError(f"{raw[:20]!r} is not empty")


def _decode_json(raw: bytes) -> dict[str, Any] | list[Any]:
    value = json.loads(raw)
    if not isinstance(value, dict | list):
        raise ValueError("a json value must be a JSON object or array")
    return value


_DECODERS: dict[str, Any] = {
    "str": lambda raw: raw.decode(),
    "int": _decode_int,
    "float": _decode_float,
    "bool": _decode_bool,
    "null": _decode_null,
    "bytes": bytes,
    "json": _decode_json,
}

"""The value encoding: user fields to stream field/value pairs and back.

An entry stays a plain list of field/value pairs that redis-cli and every Redis
client can read. A ``str`` value is stored as its UTF-8 bytes and nothing else.
Any other value is stored as the text or bytes below, and the header field
``sw:types`` (a JSON object) names its type, so decoding is lossless:

=========  ===========  ==================================================
Python     type name    stored value
=========  ===========  ==================================================
int        ``int``      decimal digits, ``-`` for negatives (``-42``)
float      ``float``    shortest round-trip decimal (``0.1``, ``1e+100``),
                        or ``nan``, ``inf``, ``-inf``
bool       ``bool``     ``true`` or ``false``
None       ``null``     the empty string
bytes      ``bytes``    the bytes as they are
dict/list  ``json``     compact JSON text in UTF-8
=========  ===========  ==================================================

Field names starting with ``sw:`` are StreamWeaver headers (see
:mod:`streamweaver.client.headers`); a user field may not use that prefix. The
full rules, with test vectors, are in ``docs/protocol.md`` and ``spec/``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamweaver.client import headers as hdr
from streamweaver.errors import DecodingError, EncodingError

MAX_MESSAGE_BYTES = 1024 * 1024
"""The default limit on a message's encoded size (names and values, in bytes)."""

Value = str | int | float | bool | None | bytes | dict[str, Any] | list[Any]
"""A field value the encoding can carry."""

ALLOWED_TYPES = "str, int, float, bool, None, bytes, dict or list"

_MAX_JSON_DEPTH = 200
_TYPES_NAME = hdr.TYPES.encode()
_PREFIX = hdr.PREFIX.encode()
_FLOAT = re.compile(
    r"^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$|^(?:nan|-?inf)$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True, eq=False)
class EncodedMessage:
    """A message as the field/value byte strings of one stream entry."""

    flat: Sequence[bytes]
    """Field name, value, field name, value, ... exactly as XADD receives them."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EncodedMessage):
            return NotImplemented
        return list(self.flat) == list(other.flat)

    __hash__ = None  # type: ignore[assignment]

    @property
    def size_bytes(self) -> int:
        """The encoded size that the message size limit applies to."""
        return sum(map(len, self.flat))

    @property
    def pairs(self) -> list[tuple[bytes, bytes]]:
        """The field/value pairs in stored order."""
        it = iter(self.flat)
        return list(zip(it, it, strict=True))

    @classmethod
    def from_pairs(
        cls, pairs: Iterable[tuple[bytes | str, bytes | str]]
    ) -> EncodedMessage:
        """Wrap already-encoded pairs, such as ones copied from another entry."""
        flat: list[bytes] = []
        for name, value in pairs:
            flat.append(name.encode() if isinstance(name, str) else bytes(name))
            flat.append(value.encode() if isinstance(value, str) else bytes(value))
        return cls(tuple(flat))

    def with_headers(self, headers: Mapping[str, str]) -> EncodedMessage:
        """A copy with these headers set, replacing any of the same name."""
        encoded = _encode_headers(headers)
        replaced = set(encoded[::2])
        flat = [
            item
            for name, value in self.pairs
            if name not in replaced
            for item in (name, value)
        ]
        return EncodedMessage((*flat, *encoded))


def encode_message(
    fields: Mapping[str, Value], headers: Mapping[str, str] | None = None
) -> EncodedMessage:
    """Encode user fields (and optional ``sw:`` headers) into an entry's pairs."""
    return EncodedMessage(encode_flat(fields, headers))


def encode_flat(
    fields: Mapping[str, Value], headers: Mapping[str, str] | None = None
) -> list[bytes]:
    """Like :func:`encode_message`, as the bare list of names and values."""
    if type(fields) is not dict and not isinstance(fields, Mapping):
        raise EncodingError(
            f"a message is a mapping of field names to values, "
            f"not {type(fields).__name__}"
        )
    flat: list[bytes] = []
    append = flat.append
    types: dict[str, str] | None = None
    try:
        for name, value in fields.items():
            # The checks are inlined: this loop runs for every field produced.
            if type(name) is not str or name.startswith(hdr.PREFIX):
                _encode_name(name)  # raises with the reason
            append(name.encode())
            if type(value) is str:
                append(value.encode())
                continue
            raw, type_name = encode_value(value, field=name)
            append(raw)
            if type_name is not None:
                if types is None:
                    types = {}
                types[name] = type_name
    except UnicodeEncodeError:
        for name, value in fields.items():  # find the culprit to name it
            _utf8(name, name)
            if isinstance(value, str):
                _utf8(value, name)
        raise

    if types:
        flat.append(_TYPES_NAME)
        flat.append(_json_bytes(types))
    if headers:
        flat.extend(_encode_headers(headers))
    if not flat:
        raise EncodingError("a message needs at least one field")
    return flat


def encode_value(value: object, *, field: str = "?") -> tuple[bytes, str | None]:
    """Encode one value; return the stored bytes and its type name (None for str)."""
    if isinstance(value, str):
        return _utf8(value, field), None
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


def decode_message(
    flat: Sequence[bytes], *, stream: str | None = None, message_id: str | None = None
) -> tuple[dict[str, Value], dict[str, str]]:
    """Decode an entry's pairs into (fields, headers)."""
    # Fast path: all text and no header. A name merely containing "sw:" takes
    # the careful path below, which gives the same result.
    it = iter(flat)
    try:
        fields = {n.decode(): v.decode() for n, v in zip(it, it, strict=False)}
    except UnicodeDecodeError:
        return _decode_careful(flat, stream, message_id)
    if hdr.PREFIX in "".join(fields):
        return _decode_careful(flat, stream, message_id)
    return fields, {}  # type: ignore[return-value]


def _decode_careful(
    flat: Sequence[bytes], stream: str | None, message_id: str | None
) -> tuple[dict[str, Value], dict[str, str]]:
    values: dict[str, bytes] = {}
    headers: dict[str, str] = {}
    types_raw: bytes | None = None
    for i in range(0, len(flat) - 1, 2):
        name, raw = flat[i], flat[i + 1]
        if name.startswith(_PREFIX):
            if name == _TYPES_NAME:
                types_raw = raw
            else:
                headers[_text(name)] = _text(raw)
            continue
        values[_text(name)] = raw

    if types_raw is None:
        return {name: _plain(raw) for name, raw in values.items()}, headers
    types = _parse_types(types_raw, stream, message_id)
    fields = {
        name: decode_value(
            raw, types.get(name), field=name, stream=stream, message_id=message_id
        )
        for name, raw in values.items()
    }
    return fields, headers


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


def _encode_name(name: object) -> bytes:
    if not isinstance(name, str):
        raise EncodingError(
            f"field name {name!r} is a {type(name).__name__}; field names are str",
            field=repr(name),
        )
    if name.startswith(hdr.PREFIX):
        raise EncodingError(
            f"field name {name!r} starts with {hdr.PREFIX!r}, which is reserved "
            "for StreamWeaver headers; rename the field",
            field=name,
        )
    return _utf8(name, name)


def _encode_headers(headers: Mapping[str, str]) -> list[bytes]:
    flat: list[bytes] = []
    for name, value in headers.items():
        if not isinstance(name, str) or not name.startswith(hdr.PREFIX):
            raise EncodingError(
                f"header name {name!r} must be a str starting with {hdr.PREFIX!r}",
                field=str(name),
            )
        if name == hdr.TYPES:
            raise EncodingError(
                f"{hdr.TYPES!r} is written by the encoder and cannot be set",
                field=name,
            )
        if not isinstance(value, str):
            raise EncodingError(
                f"header {name!r}: header values are str, not {type(value).__name__}",
                field=name,
            )
        flat.append(_utf8(name, name))
        flat.append(_utf8(value, name))
    return flat


def _utf8(text: str, field: str) -> bytes:
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


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _json_value(value: object, field: str) -> bytes:
    _check_json(value, field, field, 0)
    try:
        return _json_bytes(value)
    except ValueError as exc:  # an int with more digits than Python converts
        raise EncodingError(f"field {field!r}: {exc}", field=field) from None


def _parse_types(
    raw: bytes, stream: str | None, message_id: str | None
) -> dict[str, str]:
    try:
        types = json.loads(raw)
    except ValueError:
        types = None
    if not isinstance(types, dict) or not all(
        isinstance(v, str) for v in types.values()
    ):
        raise DecodingError(
            f"{hdr.TYPES} of {stream}/{message_id} is not a JSON object of type "
            f"names: {raw[:100]!r}",
            stream=stream,
            message_id=message_id,
            field=hdr.TYPES,
        )
    return types


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _plain(raw: bytes) -> str | bytes:
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

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from streamweaver.client import headers as hdr
from streamweaver.client.values import (
    Value,
    decode_value,
    encode_value,
    json_bytes,
    plain,
    utf8,
)
from streamweaver.errors import DecodingError, EncodingError

__all__ = [
    "MAX_MESSAGE_BYTES",
    "EncodedMessage",
    "Value",
    "decode_message",
    "decode_value",
    "encode_flat",
    "encode_message",
    "encode_value",
]

MAX_MESSAGE_BYTES = 1024 * 1024
"""The default limit on a message's encoded size (names and values, in bytes)."""

_TYPES_NAME = hdr.TYPES.encode()
_PREFIX = hdr.PREFIX.encode()


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
            utf8(name, name)
            if isinstance(value, str):
                utf8(value, name)
        raise

    if types:
        flat.append(_TYPES_NAME)
        flat.append(json_bytes(types))
    if headers:
        flat.extend(_encode_headers(headers))
    if not flat:
        raise EncodingError("a message needs at least one field")
    return flat


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
        return {name: plain(raw) for name, raw in values.items()}, headers
    types = _parse_types(types_raw, stream, message_id)
    fields = {
        name: decode_value(
            raw, types.get(name), field=name, stream=stream, message_id=message_id
        )
        for name, raw in values.items()
    }
    return fields, headers


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
    return utf8(name, name)


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
        flat.append(utf8(name, name))
        flat.append(utf8(value, name))
    return flat


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

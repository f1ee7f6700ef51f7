"""Where a segment lives in the store: escaped stream names and Hive paths.

A segment of stream ``orders:eu`` holding IDs ``1714564800000-0`` to
``1714564859999-3`` is stored as::

    orders%3Aeu/date=2024-05-01/hour=12/1714564800000-0_1714564859999-3.parquet

The stream name becomes one path component that is safe on S3, on POSIX and
Windows filesystems and for Hadoop-based readers, and that maps back to exactly
one name:

* ``A-Z a-z 0-9 - _ .`` stay as they are, except a leading ``.`` or ``_``
  (Spark and Hive skip such "hidden" paths) and a trailing ``.`` (Windows drops
  it), which are escaped;
* every other byte of the name's UTF-8 form (with ``surrogateescape``, so names
  that are not valid UTF-8 survive) is written ``%XX`` in upper-case hex, as
  Hive escapes partition values; that includes ``/``, ``%``, ``=``, ``~``,
  ``:``, spaces, control bytes and all non-ASCII bytes;
* a name with upper-case ASCII letters gets the suffix ``~<hex mask>`` saying
  which of its letters are upper-case, so ``Orders`` (``Orders~1``) and
  ``orders`` stay apart on case-insensitive filesystems;
* a name that is a Windows device name (``con``, ``nul``, ``com1``...) has its
  first character escaped.

``:`` is escaped although S3 and Linux accept it: Hadoop's ``Path`` reads
``orders:eu`` as a URI scheme and Windows forbids it, and Hive escapes it too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from streamweaver.errors import InvalidIdError, InvalidStreamNameError

MAX_COMPONENT_BYTES = 255
"""Filesystems limit one path component to 255 bytes; longer names are refused."""

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{i}" for i in range(10)]
    + [f"lpt{i}" for i in range(10)]
)
_ID = re.compile(r"^(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})$")
MAX_PART = 2**64 - 1
"""The largest millisecond or sequence number a stream ID can hold."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_DATE_MS = (datetime(9999, 12, 31, 23, tzinfo=UTC) - _EPOCH) // timedelta(
    milliseconds=1
)


def escape_stream(stream: str) -> str:
    """The stream name as one safe, reversible path component."""
    if not isinstance(stream, str) or not stream:
        raise InvalidStreamNameError(
            f"{stream!r} is not a stream name; it must be a non-empty string",
            stream=stream if isinstance(stream, str) else None,
        )
    try:
        raw = stream.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise InvalidStreamNameError(
            f"{stream!r} is not a stream name: it holds a lone surrogate that no "
            "Redis key decodes to",
            stream=stream,
        ) from None

    parts = []
    last = len(raw) - 1
    for position, byte in enumerate(raw):
        edge = (position == 0 and byte in b"._") or (position == last and byte == 46)
        if byte in _SAFE and not edge:
            parts.append(chr(byte))
        else:
            parts.append(f"%{byte:02X}")
    if raw.split(b".", 1)[0].lower().decode("ascii", "replace") in _WINDOWS_DEVICES:
        parts[0] = f"%{raw[0]:02X}"

    component = "".join(parts) + _case_suffix(raw)
    if len(component) > MAX_COMPONENT_BYTES:
        raise InvalidStreamNameError(
            f"stream name {stream[:40]!r}... is too long to archive: escaped it "
            f"takes {len(component)} bytes and a path component allows "
            f"{MAX_COMPONENT_BYTES}",
            stream=stream,
        )
    return component


def unescape_stream(component: str) -> str:
    """The stream name an :func:`escape_stream` component stands for."""
    body, _, _mask = component.partition("~")
    raw = bytearray()
    i = 0
    try:
        while i < len(body):
            if body[i] == "%":
                raw.append(int(body[i + 1 : i + 3], 16))
                i += 3
            else:
                raw.append(ord(body[i]))
                i += 1
        stream = bytes(raw).decode("utf-8", "surrogateescape")
    except (ValueError, IndexError):
        stream = None
    if stream is None or not stream or escape_stream(stream) != component:
        raise InvalidStreamNameError(
            f"{component!r} is not an escaped stream name as the archive writes them",
            stream=None,
        )
    return stream


def stream_prefix(stream: str) -> str:
    """The object-name prefix under which all of a stream's segments live."""
    return escape_stream(stream) + "/"


def segment_name(stream: str, first_id: str, last_id: str) -> str:
    """The object name of the segment holding ``first_id`` to ``last_id``."""
    first = parse_id(first_id)
    if parse_id(last_id) < first:
        raise InvalidIdError(
            f"a segment cannot end ({last_id}) before it starts ({first_id})",
            stream=stream,
        )
    date, hour = _partition(first[0])
    return (
        f"{escape_stream(stream)}/date={date}/hour={hour}/{first_id}_{last_id}.parquet"
    )


def parse_segment_name(name: str) -> tuple[str, str, str] | None:
    """``(stream, first_id, last_id)`` of a segment name, None if it is not one."""
    parts = name.split("/")
    if len(parts) != 4 or not parts[3].endswith(".parquet"):
        return None
    first_id, _, last_id = parts[3].removesuffix(".parquet").partition("_")
    try:
        stream = unescape_stream(parts[0])
        canonical = segment_name(stream, first_id, last_id)
    except (InvalidStreamNameError, InvalidIdError):
        return None
    return (stream, first_id, last_id) if canonical == name else None


def parse_id(stream_id: str) -> tuple[int, int]:
    """``(ms, seq)`` of a complete, canonical stream ID such as ``"5-0"``."""
    match = _ID.match(stream_id) if isinstance(stream_id, str) else None
    if match is None:
        raise InvalidIdError(
            f"{stream_id!r} is not a stream ID; expected <ms>-<seq> such as "
            "1700000000000-0"
        )
    ms, seq = int(match.group(1)), int(match.group(2))
    if ms > MAX_PART or seq > MAX_PART:
        raise InvalidIdError(f"{stream_id!r} is not a stream ID: a part exceeds 2^64-1")
    return ms, seq


def parse_bound(stream_id: str, default_seq: int) -> tuple[int, int]:
    """``(ms, seq)`` of a range bound; a bare ``<ms>`` takes ``default_seq``."""
    if isinstance(stream_id, str) and stream_id.isascii() and stream_id.isdigit():
        return parse_id(f"{int(stream_id)}-{default_seq}")
    return parse_id(stream_id)


def _partition(ms: int) -> tuple[str, str]:
    # Explicit IDs may encode times past year 9999, which dates cannot hold;
    # they all share the last partition (the file name keeps the real ID).
    moment = _EPOCH + timedelta(milliseconds=min(ms, _LAST_DATE_MS))
    return moment.strftime("%Y-%m-%d"), f"{moment.hour:02d}"


def _case_suffix(raw: bytes) -> str:
    mask = 0
    letter = 0
    for byte in raw:
        if 65 <= byte <= 90:
            mask |= 1 << letter
            letter += 1
        elif 97 <= byte <= 122:
            letter += 1
    return f"~{mask:x}" if mask else ""

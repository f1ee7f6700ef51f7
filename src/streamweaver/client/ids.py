"""Stream IDs and the times they encode.

A stream ID is ``<ms>-<seq>``: the Unix time in milliseconds at which Redis
added the entry and a sequence number within that millisecond, both unsigned
64-bit integers. A bare ``<ms>`` is accepted wherever an ID is read; its
sequence number defaults to 0 for a start and to the largest value for an end,
as Redis does in XRANGE.

A *position* names where a read starts or ends. It is a special ID (``-`` the
beginning, ``+`` the end, ``$`` only new entries), an ID, or a time: a
``datetime``, epoch milliseconds as an ``int``, an ISO 8601 string, ``now``, or
a time relative to now such as ``-2h`` (durations as in
:mod:`streamweaver.units`). Naive datetimes and ISO strings without an offset
are UTC. Every start position is inclusive.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from streamweaver import units
from streamweaver.errors import InvalidIdError

MAX_PART = 2**64 - 1
"""The largest millisecond or sequence number a stream ID can hold."""

ID_HELP = (
    "a stream ID is <milliseconds>-<sequence> such as 1700000000000-5, "
    "or <milliseconds> alone such as 1700000000000"
)
TIME_HELP = (
    "a time is an ISO 8601 timestamp (2024-05-01T12:00:00Z), epoch milliseconds "
    "as an integer, 'now', or a time before now such as -2h, -15m or -7d"
)

_ID = re.compile(r"^(\d{1,20})(?:-(\d{1,20}))?$")
_ONE_MS = timedelta(milliseconds=1)


class _NotATimeError(InvalidIdError):
    """A text that has no time syntax at all (as opposed to an impossible time)."""


class StreamId(NamedTuple):
    """A parsed stream ID; tuples compare in stream order."""

    ms: int
    seq: int

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    def next(self) -> StreamId:
        """The smallest ID greater than this one."""
        if self.seq < MAX_PART:
            return StreamId(self.ms, self.seq + 1)
        if self.ms < MAX_PART:
            return StreamId(self.ms + 1, 0)
        raise InvalidIdError(f"{self} is the largest stream ID; nothing comes after it")

    def previous(self) -> StreamId:
        """The largest ID smaller than this one."""
        if self.seq > 0:
            return StreamId(self.ms, self.seq - 1)
        if self.ms > 0:
            return StreamId(self.ms - 1, MAX_PART)
        raise InvalidIdError("0-0 is the smallest stream ID; nothing comes before it")

    def to_datetime(self) -> datetime:
        """The moment the ID's milliseconds encode, in UTC."""
        return datetime.fromtimestamp(self.ms / 1000, tz=UTC)


MIN_ID = StreamId(0, 0)
MAX_ID = StreamId(MAX_PART, MAX_PART)

Position = str | int | datetime | StreamId
"""Where a read starts or ends: a special ID, an ID or a time."""


def parse_id(value: str | bytes | StreamId, *, default_seq: int = 0) -> StreamId:
    """Parse ``"1700000000000-5"`` or ``"1700000000000"`` into a :class:`StreamId`."""
    if isinstance(value, StreamId):
        return value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        raise InvalidIdError(f"{value!r} is not a stream ID; {ID_HELP}")
    match = _ID.match(value)
    if match is None:
        raise InvalidIdError(f"{value!r} is not a stream ID; {ID_HELP}")
    ms = int(match.group(1))
    seq = int(match.group(2)) if match.group(2) is not None else default_seq
    if ms > MAX_PART or seq > MAX_PART:
        raise InvalidIdError(
            f"{value!r} is not a stream ID: each part must be at most {MAX_PART}"
        )
    return StreamId(ms, seq)


def is_valid_id(value: object) -> bool:
    """Tell whether a value is a complete or millisecond-only stream ID."""
    if isinstance(value, StreamId):
        return True
    if not isinstance(value, str | bytes):
        return False
    try:
        parse_id(value)
    except InvalidIdError:
        return False
    return True


def compare_ids(a: str | bytes | StreamId, b: str | bytes | StreamId) -> int:
    """Return -1, 0 or 1 as ID ``a`` sorts before, equal to or after ``b``."""
    left, right = parse_id(a), parse_id(b)
    return (left > right) - (left < right)


def next_id(value: str | bytes | StreamId) -> str:
    """The smallest ID after ``value`` (``"5-3"`` gives ``"5-4"``)."""
    return str(parse_id(value).next())


def previous_id(value: str | bytes | StreamId) -> str:
    """The largest ID before ``value`` (``"5-0"`` gives ``"4-<max sequence>"``)."""
    return str(parse_id(value).previous())


def id_from_ms(ms: int, seq: int = 0) -> str:
    """The ID at epoch milliseconds ``ms`` (sequence 0 unless given)."""
    if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= MAX_PART:
        raise InvalidIdError(
            f"{ms!r} is not a time in epoch milliseconds; use an integer from 0"
        )
    return str(StreamId(ms, seq))


def id_from_datetime(moment: datetime) -> str:
    """The first ID at a moment (naive datetimes are taken as UTC)."""
    return id_from_ms(_datetime_ms(moment))


def id_to_datetime(value: str | bytes | StreamId) -> datetime:
    """The moment, in UTC, at which the entry with this ID was added."""
    return parse_id(value).to_datetime()


def parse_time_ms(value: str | int | datetime, *, now_ms: int | None = None) -> int:
    """Epoch milliseconds of a time: ISO 8601, epoch ms, ``now`` or ``-2h``."""
    if isinstance(value, datetime):
        return _datetime_ms(value)
    if isinstance(value, int) and not isinstance(value, bool):
        id_from_ms(value)
        return value
    if not isinstance(value, str):
        raise _NotATimeError(f"{value!r} is not a time; {TIME_HELP}")
    text = value.strip()
    now = _now_ms() if now_ms is None else now_ms
    if text == "now":
        return now
    if text.startswith("-") and len(text) > 1:
        try:
            ago_s = units.parse_duration_s(text[1:].strip())
        except ValueError:
            raise _NotATimeError(f"{value!r} is not a time; {TIME_HELP}") from None
        return max(0, now - round(ago_s * 1000))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _NotATimeError(f"{value!r} is not a time; {TIME_HELP}") from None
    return _datetime_ms(moment)


def start_bound(value: Position, *, now_ms: int | None = None) -> str:
    """The inclusive XRANGE start for a position (``-``, an ID or a time)."""
    if value == "-":
        return "-"
    if value in ("$", "+"):
        raise InvalidIdError(
            f"{value!r} cannot start a range read; use '-' (the beginning), "
            f"an ID or a time ({ID_HELP}; {TIME_HELP})"
        )
    return str(_position(value, now_ms=now_ms, default_seq=0))


def end_bound(value: Position, *, now_ms: int | None = None) -> str:
    """The inclusive XRANGE end for a position (``+``, an ID or a time)."""
    if value == "+":
        return "+"
    if value in ("$", "-"):
        raise InvalidIdError(
            f"{value!r} cannot end a range read; use '+' (the end), "
            f"an ID or a time ({ID_HELP}; {TIME_HELP})"
        )
    return str(_position(value, now_ms=now_ms, default_seq=MAX_PART))


def last_seen_id(value: Position, *, now_ms: int | None = None) -> str:
    """The exclusive ID to give XREAD or XGROUP so delivery starts at ``value``.

    ``$`` stays ``$`` (only entries added from now on); ``-``, ``0`` and ``0-0``
    become ``0-0`` (everything); an ID or a time becomes the ID just before it,
    so the entry at that ID or time is included.
    """
    if value == "$":
        return "$"
    if value == "+":
        raise InvalidIdError(
            "'+' cannot start a read; use '$' for new entries only, '-' or 0 for "
            f"everything, an ID or a time ({ID_HELP}; {TIME_HELP})"
        )
    if value == "-":
        return "0-0"
    position = _position(value, now_ms=now_ms, default_seq=0)
    return "0-0" if position == MIN_ID else str(position.previous())


def _position(value: Position, *, now_ms: int | None, default_seq: int) -> StreamId:
    if isinstance(value, StreamId):
        return value
    if isinstance(value, bytes):
        return parse_id(value, default_seq=default_seq)
    if isinstance(value, str) and _ID.match(value.strip()):
        return parse_id(value.strip(), default_seq=default_seq)
    if isinstance(value, str):
        try:
            return StreamId(parse_time_ms(value, now_ms=now_ms), default_seq)
        except _NotATimeError:
            raise InvalidIdError(
                f"{value!r} is neither a stream ID nor a time; {ID_HELP}; {TIME_HELP}"
            ) from None
    if isinstance(value, int | datetime) and not isinstance(value, bool):
        return StreamId(parse_time_ms(value, now_ms=now_ms), default_seq)
    raise InvalidIdError(
        f"{value!r} is not a position; use a string, epoch milliseconds or a "
        f"datetime: {ID_HELP}; {TIME_HELP}"
    )


def _datetime_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ms = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // _ONE_MS
    if ms < 0:
        raise InvalidIdError(
            f"{moment.isoformat()} is before 1970-01-01, where stream IDs begin"
        )
    return int(ms)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000

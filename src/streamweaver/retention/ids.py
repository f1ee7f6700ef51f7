"""Stream entry IDs as ``(ms, seq)`` tuples, which compare in stream order."""

from __future__ import annotations

from streamweaver.errors import InvalidIdError

StreamId = tuple[int, int]

MAX_SEQ = 2**64 - 1


def parse_id(value: str | bytes) -> StreamId:
    """Parse ``"1700000000000-3"`` (or a bare millisecond time) into a tuple."""
    text = value.decode("ascii") if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    try:
        parsed = (int(ms), int(seq) if seq else 0)
    except ValueError:
        raise InvalidIdError(
            f"{text!r} is not a stream ID; use <milliseconds>-<sequence>",
            message_id=text,
        ) from None
    if parsed[0] < 0 or not 0 <= parsed[1] <= MAX_SEQ:
        raise InvalidIdError(f"{text!r} is out of range for a stream ID")
    return parsed


def format_id(stream_id: StreamId) -> str:
    return f"{stream_id[0]}-{stream_id[1]}"


def next_id(stream_id: StreamId) -> StreamId:
    """The smallest ID greater than ``stream_id``."""
    ms, seq = stream_id
    return (ms + 1, 0) if seq == MAX_SEQ else (ms, seq + 1)


def id_time_ms(stream_id: StreamId) -> int:
    return stream_id[0]

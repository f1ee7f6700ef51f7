"""Checks on the names of streams, groups and consumers."""

from __future__ import annotations

from streamweaver import keys
from streamweaver.errors import GroupError, InvalidStreamNameError


def check_stream(stream: object) -> str:
    """Return the stream name if it is usable; raise InvalidStreamNameError if not."""
    if not isinstance(stream, str):
        raise InvalidStreamNameError(
            f"a stream name is a str, not {type(stream).__name__}"
        )
    if not stream:
        raise InvalidStreamNameError("the stream name is empty; name the stream")
    if keys.is_internal(stream):
        raise InvalidStreamNameError(
            f"stream name {stream!r} starts with {keys.PREFIX!r}, which is reserved "
            "for StreamWeaver's own keys; choose another name",
            stream=stream,
        )
    return stream


def check_group(stream: str, group: object, what: str = "consumer group") -> str:
    """Return a group or consumer name if it is a non-empty str."""
    if not isinstance(group, str) or not group:
        raise GroupError(
            f"the {what} name must be a non-empty str, got {group!r}",
            stream=stream,
            group=group if isinstance(group, str) else None,
        )
    return group

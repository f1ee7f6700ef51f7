"""Object name rules shared by every backend, so a name means the same everywhere."""

from __future__ import annotations

TEMP_MARK = ".swtmp-"
"""Names of the backends' own scratch objects (temp files, probes) start with this."""

_ALLOWED = (
    "a relative '/'-separated path of non-empty parts, none of them '.' or '..', "
    f"none starting with {TEMP_MARK!r}, without NUL characters or backslashes"
)


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid object name; raise ValueError if not."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"object name {name!r} is not allowed; use {_ALLOWED}")
    _check_parts(name, name.split("/"))
    return name


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start a valid name (it may end in ``/``)."""
    if not isinstance(prefix, str):
        raise ValueError(f"prefix {prefix!r} is not allowed; use {_ALLOWED}")
    if prefix:
        parts = prefix.split("/")
        # The last part may be empty ("a/") or a partial name ("seg-00").
        _check_parts(prefix, parts[:-1] or [], partial=parts[-1])
    return prefix


def is_internal(name: str) -> bool:
    """Whether a stored name is one of the backend's own scratch objects."""
    return any(part.startswith(TEMP_MARK) for part in name.split("/"))


def _check_parts(whole: str, parts: list[str], partial: str = "") -> None:
    bad = (
        "\x00" in whole
        or "\\" in whole
        or whole.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
        or any(part.startswith(TEMP_MARK) for part in [*parts, partial])
        or partial in (".", "..")
    )
    if bad:
        raise ValueError(f"object name {whole!r} is not allowed; use {_ALLOWED}")

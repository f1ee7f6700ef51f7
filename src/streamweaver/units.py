"""Parsing of the durations and sizes used in configuration and on the CLI.

Durations are a number and a unit: ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``
(``1.5h`` is allowed). Sizes are a number and a unit, where the SI units are
powers of ten and the IEC units powers of two: ``KB`` = 1000 bytes, ``KiB`` =
1024 bytes, ``GB`` = 10^9 bytes, ``GiB`` = 2^30 bytes. A plain integer size is
a byte count. Units are case-insensitive.
"""

from __future__ import annotations

import re

_DURATION_UNITS_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")

DURATION_HELP = "a number and a unit (ms, s, m, h, d, w), for example 30s, 15m or 7d"
SIZE_HELP = (
    "a byte count or a number and a unit: KB, MB, GB, TB (powers of 10) "
    "or KiB, MiB, GiB, TiB (powers of 2), for example 512MB or 1GiB"
)


def parse_duration_s(text: str | int | float) -> float:
    """Return the number of seconds in a duration such as ``"7d"``."""
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration; use {DURATION_HELP}")
    match = _QUANTITY.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _DURATION_UNITS_S:
        raise ValueError(f"{text!r} is not a duration; use {DURATION_HELP}")
    return float(match.group(1)) * _DURATION_UNITS_S[unit]


def parse_size_bytes(text: str | int) -> int:
    """Return the number of bytes in a size such as ``"5GB"`` or ``"1GiB"``."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a size; use {SIZE_HELP}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{text!r} is not a size; sizes cannot be negative")
        return text
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a size; use {SIZE_HELP}")
    if text.strip().isdigit():
        return int(text)
    match = _QUANTITY.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size; use {SIZE_HELP}")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def format_bytes(n: float) -> str:
    """Render a byte count for people, in IEC units (``1.5 MiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """Render a duration for people (``3d 4h``, ``12m 5s``, ``850ms``)."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    parts = []
    remaining = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        value, remaining = divmod(remaining, size)
        if value:
            parts.append(f"{value}{unit}")
    return " ".join(parts[:2])

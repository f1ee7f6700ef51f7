"""A replay request: its fields as any client sends them, parsed and checked.

The same fields arrive from the control stream, the Python client, the CLI and
the HTTP API, always as text. This module checks their syntax only; what needs
Redis or the archive (does the stream exist, is there data in the range) is
checked in :mod:`streamweaver.replay.validate`. Every rejection carries a short
code (``invalid_from``, ``empty_range``, ...) and one sentence for people.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from streamweaver import keys, units
from streamweaver.client.ids import MAX_ID, StreamId, end_bound, parse_id, start_bound
from streamweaver.errors import InvalidIdError, ReplayError

Mode = Literal["preserve", "append"]

FIELDS = (
    "stream",
    "from",
    "to",
    "target",
    "mode",
    "pace",
    "rate",
    "batch_size",
    "target_ttl",
)
"""The request fields, as named in the control stream and the job hash."""

ENVELOPE_FIELDS = ("op", "id")
"""Control-stream fields that address the request rather than describe it."""

MODES = ("preserve", "append")
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PACE = re.compile(r"^original(?:\s*\*\s*(\d+(?:\.\d+)?))?$")


class ReplayRejectedError(ReplayError):
    """Raised when a replay request is refused; ``code`` names the reason."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        stream: str | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, stream=stream, job_id=job_id)
        self.code = code


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast messages go out: ``fast``, or their original spacing sped up."""

    original: bool = False
    speedup: float = 1.0

    def __str__(self) -> str:
        if not self.original:
            return "fast"
        return "original" if self.speedup == 1 else f"original*{self.speedup:g}"


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """A syntactically valid replay request; the range bounds are inclusive."""

    stream: str
    start: str
    end: str
    start_id: StreamId
    end_id: StreamId
    target: str | None = None
    mode: Mode = "preserve"
    pace: Pace = Pace()
    rate_per_s: float | None = None
    batch_size: int | None = None
    target_ttl_s: float | None = None

    def fields(self) -> dict[str, str]:
        """The request as text fields, the way the job hash records it."""
        return {
            "stream": self.stream,
            "from": self.start,
            "to": self.end,
            "target": self.target or "",
            "mode": self.mode,
            "pace": str(self.pace),
            "rate": "" if self.rate_per_s is None else f"{self.rate_per_s:g}",
            "batch_size": "" if self.batch_size is None else str(self.batch_size),
            "target_ttl": ""
            if self.target_ttl_s is None
            else f"{self.target_ttl_s:g}s",
        }


def default_target(stream: str, job_id: str) -> str:
    """Where a replay writes when the request names no target."""
    return f"{stream}:replay:{job_id}"


def check_job_id(job_id: str) -> str:
    """Return ``job_id`` if it can name a job; reject it otherwise."""
    if not _JOB_ID.match(job_id):
        raise ReplayRejectedError(
            "invalid_id",
            f"{job_id!r} cannot be a job ID; use 1 to 64 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit",
        )
    return job_id


def parse_request(fields: Mapping[str, str | bytes], *, now_ms: int) -> ReplayRequest:
    """Check a request's fields and resolve its times against ``now_ms``."""
    text = {_text(k): _text(v).strip() for k, v in fields.items()}
    unknown = sorted(set(text) - set(FIELDS) - set(ENVELOPE_FIELDS))
    if unknown:
        raise ReplayRejectedError(
            "unknown_field",
            f"unknown field(s) {', '.join(map(repr, unknown))}; "
            f"a replay request takes {', '.join(FIELDS)}",
        )
    stream = _stream(text.get("stream", ""))
    start = text.get("from") or "-"
    end = text.get("to") or "+"
    start_id = _bound("from", start, start_bound, now_ms, stream)
    end_id = _bound("to", end, end_bound, now_ms, stream)
    if start_id > end_id:
        raise ReplayRejectedError(
            "invalid_range",
            f"'from' ({start} = {start_id}) is after 'to' ({end} = {end_id}); "
            "the range must run forward",
            stream=stream,
        )
    return ReplayRequest(
        stream=stream,
        start=start,
        end=end,
        start_id=start_id,
        end_id=end_id,
        target=_target(text.get("target", ""), stream),
        mode=_mode(text.get("mode") or "preserve"),
        pace=parse_pace(text.get("pace") or "fast"),
        rate_per_s=_rate(text.get("rate", "")),
        batch_size=_batch_size(text.get("batch_size", "")),
        target_ttl_s=_ttl(text.get("target_ttl", "")),
    )


def parse_pace(text: str) -> Pace:
    """Parse ``fast``, ``original`` or ``original*K`` (K > 0, a speed-up)."""
    if text == "fast":
        return Pace()
    match = _PACE.match(text)
    speedup = float(match.group(1)) if match and match.group(1) else 1.0
    if match is None or speedup <= 0:
        raise ReplayRejectedError(
            "invalid_pace",
            f"pace {text!r} is not understood; use 'fast', 'original' (the "
            "original spacing) or 'original*K' with K > 0 (K times faster)",
        )
    return Pace(original=True, speedup=speedup)


def _stream(name: str) -> str:
    if not name:
        raise ReplayRejectedError(
            "missing_stream", "the request names no stream; set the 'stream' field"
        )
    if keys.is_internal(name):
        raise ReplayRejectedError(
            "invalid_stream",
            f"{name!r} is one of StreamWeaver's own keys (prefix {keys.PREFIX!r}) "
            "and cannot be replayed",
            stream=name,
        )
    return name


def _bound(name: str, value: str, resolve, now_ms: int, stream: str) -> StreamId:
    try:
        bound = resolve(value, now_ms=now_ms)
    except InvalidIdError as exc:
        raise ReplayRejectedError(
            f"invalid_{name}", f"'{name}': {exc}", stream=stream
        ) from exc
    if bound == "-":
        return StreamId(0, 0)
    if bound == "+":
        return MAX_ID
    return parse_id(bound)


def _target(name: str, stream: str) -> str | None:
    if not name:
        return None
    if keys.is_internal(name):
        raise ReplayRejectedError(
            "invalid_target",
            f"target {name!r} is under StreamWeaver's reserved prefix "
            f"{keys.PREFIX!r}; choose another stream name",
            stream=stream,
        )
    return name


def _mode(text: str) -> Mode:
    if text not in MODES:
        raise ReplayRejectedError(
            "invalid_mode",
            f"mode {text!r} is not understood; use 'preserve' (a new stream with "
            "the original IDs) or 'append' (new IDs, original in sw:origin-id)",
        )
    return text  # type: ignore[return-value]


def _rate(text: str) -> float | None:
    if not text:
        return None
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0 < rate < float("inf"):
        raise ReplayRejectedError(
            "invalid_rate",
            f"rate {text!r} is not a positive number of messages per second",
        )
    return rate


def _batch_size(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ReplayRejectedError(
            "invalid_batch_size", f"batch_size {text!r} is not a whole number above 0"
        )
    return int(text)


def _ttl(text: str) -> float | None:
    if not text:
        return None
    try:
        ttl_s = float(text) if text.replace(".", "", 1).isdigit() else None
        if ttl_s is None:
            ttl_s = units.parse_duration_s(text)
    except ValueError:
        ttl_s = -1.0
    if ttl_s <= 0:
        raise ReplayRejectedError(
            "invalid_target_ttl",
            f"target_ttl {text!r} is not a positive duration; use seconds or "
            f"{units.DURATION_HELP}",
        )
    return ttl_s


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

"""Consumer groups that start in the past: backfilled from the archive, then live.

A group asked to start before the oldest entry still in Redis ("from last
Tuesday") cannot get that part with XREADGROUP. Instead:

1. the group is created on the stream at the entry just before Redis's oldest
   one (the seam), so XREADGROUP later delivers exactly what follows;
2. a replay job copies ``[start, seam]`` from the archive, original IDs kept,
   into the side stream ``<stream>:backfill:<group>``, where a group of the
   same name reads it from the beginning;
3. ``sw:{stream}:backfill`` maps the group to its side stream, so every
   consumer of the group reads the side stream first; once the job is done and
   the side group has nothing undelivered or pending, consumers move on to the
   stream itself and the side stream is deleted.

Any client can follow the same steps (docs/protocol.md, "Reading across
tiers"); :func:`consume_from_archive` does it for the Python client.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import redis
import redis.exceptions

from streamweaver import keys
from streamweaver.client.ids import MIN_ID, Position, parse_id, start_bound
from streamweaver.client.replay import ReplayJob, request_fields, submit
from streamweaver.errors import ReplayError
from streamweaver.replay.jobs import FINISHED
from streamweaver.replay.request import ReplayRejectedError


def side_stream(stream: str, group: str) -> str:
    """Where a group's archived past is replayed to."""
    return f"{stream}:backfill:{group}"


def backfill_job_id(stream: str, group: str) -> str:
    """The replay job ID of a group's backfill (the same for every consumer)."""
    digest = hashlib.blake2b(
        f"{stream}\0{group}".encode("utf-8", "surrogateescape"), digest_size=8
    ).hexdigest()
    return f"backfill-{digest}"


def start_backfill(
    client: redis.Redis,
    stream: str,
    group: str,
    start: Position,
    *,
    accept_timeout_s: float = 10.0,
) -> str | None:
    """Create ``group`` at ``start``, backfilling from the archive if needed.

    Returns the side stream to read first, or None when Redis holds
    everything from ``start`` on (the group is then created, or left as it
    is, the usual way).
    """
    ongoing = client.hget(keys.group_backfill(stream), group)
    if ongoing:
        return _text(ongoing)
    bound = start_bound(start)
    first = MIN_ID if bound == "-" else parse_id(bound)
    head = client.execute_command("XRANGE", stream, "-", "+", "COUNT", 1)
    if not head or first >= parse_id(head[0][0]):
        _create_group(client, stream, group, _before(first))
        return None

    seam = parse_id(head[0][0]).previous()
    if not _create_group(client, stream, group, str(seam)):
        return None  # the group exists: it goes on from where it is
    side = side_stream(stream, group)
    _create_group(client, side, group, "0")
    fields = request_fields(
        stream, start, str(seam), target=side, job_id=backfill_job_id(stream, group)
    )
    try:
        submit(client, fields, accept_timeout_s=accept_timeout_s)
    except ReplayRejectedError as exc:
        if exc.code != "empty_range":
            raise
        client.delete(side)
        return None  # nothing archived before Redis's oldest entry
    client.hset(keys.group_backfill(stream), group, side)
    return side


def backfill_drained(client: redis.Redis, stream: str, group: str) -> bool:
    """True once the backfill job ended and the side group delivered and acked all."""
    job = ReplayJob(client, backfill_job_id(stream, group)).status()
    if job.state not in FINISHED:
        return False
    if job.state != "done":
        raise ReplayError(
            f"the backfill of group {group!r} on {stream!r} ended {job.state}: "
            f"{job.get('message')}",
            stream=stream,
            job_id=job.id,
        )
    for info in client.execute_command("XINFO", "GROUPS", side_stream(stream, group)):
        fields = _pairs(info)
        if fields.get("name") == group:
            return fields.get("lag") == 0 and fields.get("pending") == 0
    return False


def finish_backfill(client: redis.Redis, stream: str, group: str) -> None:
    """Forget a drained backfill and delete its side stream."""
    client.hdel(keys.group_backfill(stream), group)
    client.delete(side_stream(stream, group))


def consume_from_archive(
    client: Any,
    stream: str,
    group: str,
    consumer: str | None = None,
    *,
    start: Position,
    poll_s: float = 0.2,
    **consume_kwargs: Any,
) -> Iterator[Any]:
    """Messages of ``group`` from ``start`` on, archived past first, then live.

    ``client`` is a :class:`streamweaver.client.Client`. Backfilled messages
    come from the side stream (``message.stream``) with their original IDs;
    ack them as usual. Takes the keyword options of ``Client.consume``.
    """
    redis_client = client._redis  # the client's own connection (raw replies)
    side = start_backfill(redis_client, stream, group, start)
    if side is not None:
        with client.consume(
            side, group, consumer, create_group=False, **consume_kwargs
        ) as backfill:
            failures: list[BaseException] = []
            watcher = threading.Thread(
                target=_stop_when_drained,
                args=(redis_client, stream, group, backfill, poll_s, failures),
                daemon=True,
            )
            watcher.start()
            yield from backfill
            watcher.join()
        if failures:
            raise failures[0]
        finish_backfill(redis_client, stream, group)
    with client.consume(stream, group, consumer, **consume_kwargs) as live:
        yield from live


def _stop_when_drained(client, stream, group, backfill, poll_s, failures) -> None:
    # Runs beside the consuming loop: the loop blocks in XREADGROUP and cannot
    # see by itself that the side stream will get nothing more.
    pause = threading.Event()
    try:
        while not backfill_drained(client, stream, group):
            pause.wait(poll_s)
    except Exception as exc:
        failures.append(exc)
    finally:
        backfill.stop()


def _create_group(client: redis.Redis, stream: str, group: str, after: str) -> bool:
    try:
        client.execute_command("XGROUP", "CREATE", stream, group, after, "MKSTREAM")
    except redis.exceptions.ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise
    return True


def _before(first) -> str:
    return "0-0" if first == MIN_ID else str(first.previous())


def _pairs(info: Any) -> dict[str, Any]:
    if isinstance(info, dict):
        items = info.items()
    else:
        items = zip(info[::2], info[1::2], strict=True)
    return {_text(k): _text(v) if isinstance(v, bytes) else v for k, v in items}


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

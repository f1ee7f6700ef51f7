"""Writing one batch into the target together with the job's progress.

The authoritative progress of a job (``cursor``, ``replayed``) lives in a hash
in the target's hash slot (:func:`streamweaver.keys.replay_progress`), so one
script appends the batch and moves the cursor, also in Redis Cluster: a broker
killed at any point leaves either the whole batch and its progress, or
neither, and the two survive or are lost together in a failover, since they
live on one shard. The job hash (another slot) gets a copy of the progress
after each batch, for clients to watch.

Fencing: a runner first stamps the progress hash with its claim number (the
job's ``claims`` counter after its claim); the commit script refuses a runner
whose claim is not the stamped one, so after a takeover the old runner can
write nothing more, and the new one resumes from the cursor the stamp returned.
The script also checks that the target is a stream and, in ``preserve`` mode,
that the first ID is above the target's last one; a refused batch writes
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio

from streamweaver import keys
from streamweaver.client.headers import ORIGIN_ID, ORIGIN_PARTITION, ORIGIN_STREAM
from streamweaver.replay.merged import MergedEntry
from streamweaver.replay.request import Mode

Entry = tuple[bytes, Sequence[bytes]]
"""A stream entry: its ID and its flat field/value list, as stored."""

ORIGIN_STREAM_B = ORIGIN_STREAM.encode()
ORIGIN_PARTITION_B = ORIGIN_PARTITION.encode()
_ORIGIN_FIELDS = frozenset(
    {ORIGIN_ID.encode(), ORIGIN_STREAM.encode(), ORIGIN_PARTITION.encode()}
)

# KEYS: progress. ARGV: claim, owner, ttl_ms. Makes the caller the only writer
# unless a later claim stamped it first; returns the progress to resume from.
_FENCE = """
local held = redis.call('HMGET', KEYS[1], 'claim', 'owner')
local claim = tonumber(ARGV[1])
local stamped = tonumber(held[1] or '0')
if stamped > claim or (stamped == claim and held[2] ~= ARGV[2]) then
  return {'lost'}
end
redis.call('HSET', KEYS[1], 'claim', claim, 'owner', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local p = redis.call('HMGET', KEYS[1], 'cursor', 'replayed', 'last_target_id')
return {'ok', p[1] or '', p[2] or '0', p[3] or ''}
"""

# KEYS: progress, target. ARGV: claim, mode, target ttl_ms, origin stream (empty:
# the entries carry their own), count, cursor, progress ttl_ms, then per entry:
# id, number of field/value items, the items.
_COMMIT = """
if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then return {'lost'} end
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind ~= 'stream' and kind ~= 'none' then return {'not_stream', kind} end

local function split(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms, seq
end
local function digits_less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function id_less_or_equal(a, b)
  local ams, aseq = split(a)
  local bms, bseq = split(b)
  if ams ~= bms then return digits_less(ams, bms) end
  return not digits_less(bseq, aseq)
end

local preserve = ARGV[2] == 'preserve'
local first = ARGV[8]
if preserve and kind == 'stream' then
  local info = redis.call('XINFO', 'STREAM', KEYS[2])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      if id_less_or_equal(first, info[i + 1]) then
        return {'behind', info[i + 1]}
      end
    end
  end
end

local n = tonumber(ARGV[5])
local i = 8
local added
for _ = 1, n do
  local id = ARGV[i]
  local width = tonumber(ARGV[i + 1])
  local args = {KEYS[2], preserve and id or '*'}
  for k = 1, width do args[k + 2] = ARGV[i + 1 + k] end
  if not preserve then
    args[#args + 1] = 'sw:origin-id'
    args[#args + 1] = id
    if ARGV[4] ~= '' then
      args[#args + 1] = 'sw:origin-stream'
      args[#args + 1] = ARGV[4]
    end
  end
  added = redis.call('XADD', unpack(args))
  i = i + 2 + width
end

local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('HSET', KEYS[1], 'cursor', ARGV[6], 'last_target_id', added)
local replayed = redis.call('HINCRBY', KEYS[1], 'replayed', n)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {'ok', added, replayed}
"""


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a job stands, as its progress hash says: resume after ``cursor``."""

    cursor: str
    replayed: int
    last_target_id: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a batch commit did: ``ok``, or why it wrote nothing."""

    status: str
    """``ok``, ``lost`` (another runner stamped the job's progress),
    ``not_stream`` (the target is another type) or ``behind`` (preserve mode,
    target ahead)."""
    detail: str = ""
    """The new last target ID (ok), the target's type, or its last ID."""
    replayed: int = 0
    """Messages written by the job so far (ok)."""


class BatchWriter:
    """Commits batches of one job into its target, with the job's progress."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        job_id: str,
        target: str,
        stream: str,
        mode: Mode,
        claim: int,
        ttl_s: float | None,
        progress_ttl_s: float,
        partitions: Sequence[str] = (),
    ) -> None:
        self._client = client
        self._fence = client.register_script(_FENCE)
        self._script = client.register_script(_COMMIT)
        self._keys = [keys.replay_progress(target, job_id), target]
        self._mode = mode
        self._claim = claim
        self._progress_ttl_ms = max(1, round(progress_ttl_s * 1000))
        self._partitions = [name.encode() for name in partitions]
        origin = "" if partitions else stream
        self._head = [claim, mode, round(ttl_s * 1000) if ttl_s else 0, origin]

    async def fence(self, owner: str) -> Progress | None:
        """Become the job's only writer; None if a later claim already did."""
        reply = await self._fence(
            keys=self._keys[:1], args=[self._claim, owner, self._progress_ttl_ms]
        )
        status, *rest = (_text(part) for part in reply)
        if status != "ok":
            return None
        cursor, replayed, last_target_id = rest
        return Progress(cursor, int(replayed or 0), last_target_id)

    async def commit(
        self, entries: Sequence[Entry] | Sequence[MergedEntry], cursor: str = ""
    ) -> Outcome:
        """Write ``entries`` (in order) and record ``cursor`` (default: last ID).

        Entries of a logical stream's partitions (``partitions`` given) carry
        their partition, which the target gets in origin headers.
        """
        args: list = [
            *self._head,
            len(entries),
            cursor or entries[-1][0],
            self._progress_ttl_ms,
        ]
        strip = self._mode == "append"
        for entry in entries:
            entry_id, items = entry[0], entry[1]
            if strip:
                items = _without_origin(items)
            if self._partitions:
                index = entry[2]  # type: ignore[misc]
                items = [
                    *items,
                    *(ORIGIN_STREAM_B, self._partitions[index]),
                    *(ORIGIN_PARTITION_B, b"%d" % index),
                ]
            args.append(entry_id)
            args.append(len(items))
            args.extend(items)
        reply = await self._script(keys=self._keys, args=args)
        status, *rest = (_text(part) for part in reply)
        replayed = int(rest[1]) if len(rest) > 1 else 0
        return Outcome(status, rest[0] if rest else "", replayed)

    async def forget(self) -> None:
        """Delete the progress hash once the job hash holds the final state."""
        await self._client.delete(self._keys[0])


def _without_origin(items: Sequence[bytes]) -> Sequence[bytes]:
    # A message replayed before carries origin headers; they are replaced, so
    # the target never holds two values for one field.
    names = items[::2]
    if not any(name in _ORIGIN_FIELDS for name in names):
        return items
    kept: list[bytes] = []
    for name, value in zip(names, items[1::2], strict=True):
        if name not in _ORIGIN_FIELDS:
            kept += (name, value)
    return kept


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

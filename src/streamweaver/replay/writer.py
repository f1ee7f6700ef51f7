"""Writing one batch into the target together with the job's progress.

One script appends the batch to the target and moves the job's cursor, so the
two cannot part: a broker killed at any point leaves either the whole batch and
its progress, or neither. The script also checks, before writing anything,
that this broker still owns the job, that nobody asked it to stop, that the
target is a stream, and in ``preserve`` mode that the first ID is above the
target's last one; a refused batch writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio

from streamweaver.client.headers import ORIGIN_ID, ORIGIN_STREAM
from streamweaver.replay.request import Mode

Entry = tuple[bytes, Sequence[bytes]]
"""A stream entry: its ID and its flat field/value list, as stored."""

_ORIGIN_FIELDS = frozenset({ORIGIN_ID.encode(), ORIGIN_STREAM.encode()})

# KEYS: job, target. ARGV: owner, mode, ttl_ms, origin stream, count, last source
# ID, then per entry: id, number of field/value items, the items.
_COMMIT = """
local job = redis.call('HMGET', KEYS[1], 'state', 'owner', 'cancel')
if job[1] ~= 'running' or job[2] ~= ARGV[1] then return {'lost'} end
if job[3] == '1' then return {'cancel'} end
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
local first = ARGV[7]
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
local i = 7
local added
for _ = 1, n do
  local id = ARGV[i]
  local width = tonumber(ARGV[i + 1])
  local args = {KEYS[2], preserve and id or '*'}
  for k = 1, width do args[k + 2] = ARGV[i + 1 + k] end
  if not preserve then
    args[#args + 1] = 'sw:origin-id'
    args[#args + 1] = id
    args[#args + 1] = 'sw:origin-stream'
    args[#args + 1] = ARGV[4]
  end
  added = redis.call('XADD', unpack(args))
  i = i + 2 + width
end

local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'cursor', ARGV[6], 'last_target_id', added,
           'updated_ms', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('HINCRBY', KEYS[1], 'replayed', n)
return {'ok', added}
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a batch commit did: ``ok``, or why it wrote nothing."""

    status: str
    """``ok``, ``lost`` (another broker owns the job), ``cancel``, ``not_stream``
    (the target is another type) or ``behind`` (preserve mode, target ahead)."""
    detail: str = ""
    """The new last target ID (ok), the target's type, or its last ID."""


class BatchWriter:
    """Commits batches of one job into its target, with the job's progress."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        job_key: str,
        target: str,
        stream: str,
        mode: Mode,
        owner: str,
        ttl_s: float | None,
    ) -> None:
        self._script = client.register_script(_COMMIT)
        self._keys = [job_key, target]
        self._mode = mode
        self._head = [owner, mode, round(ttl_s * 1000) if ttl_s else 0, stream]

    async def commit(self, entries: Sequence[Entry]) -> Outcome:
        """Write ``entries`` (in ID order) and record the last one as the cursor."""
        args: list = [*self._head, len(entries), entries[-1][0]]
        strip = self._mode == "append"
        for entry_id, items in entries:
            if strip:
                items = _without_origin(items)
            args.append(entry_id)
            args.append(len(items))
            args.extend(items)
        reply = await self._script(keys=self._keys, args=args)
        status, *rest = (_text(part) for part in reply)
        return Outcome(status, rest[0] if rest else "")


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

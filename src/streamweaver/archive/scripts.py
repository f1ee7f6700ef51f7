"""The Lua scripts that keep a stream's segment index and archive state atomic.

Each runs on the keys of one stream, which share a hash slot, so the checks
(fencing epoch, overlap, duplicate) and the writes happen as one step.
"""

HELPERS = """
local function id_less(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  if #ams ~= #bms then return #ams < #bms end
  if ams ~= bms then return ams < bms end
  if #aseq ~= #bseq then return #aseq < #bseq end
  return aseq < bseq
end
local function find(key, score, name)
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, score, score)) do
    local sep = string.find(member, ' ', 1, true)
    if sep and cjson.decode(string.sub(member, sep + 1)).name == name then
      return member
    end
  end
  return nil
end
"""

# KEYS: segments, state, lease.
# ARGV: member, score, name, first_id, last_id, epoch or '', count, size, now_ms.
RECORD = (
    HELPERS
    + """
if ARGV[6] ~= '' then
  local held = redis.call('HGET', KEYS[3], 'epoch')
  if held and tonumber(held) > tonumber(ARGV[6]) then return {'lease', held} end
end
local existing = find(KEYS[1], ARGV[2], ARGV[3])
if existing == ARGV[1] then return {'duplicate'} end
if existing then
  redis.call('ZREM', KEYS[1], existing)
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  return {'replaced'}
end
local done = redis.call('HGET', KEYS[2], 'archived_until')
if done and not id_less(done, ARGV[4]) then return {'overlap', done} end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], 'archived_until', ARGV[5], 'updated_ms', ARGV[9])
redis.call('HINCRBY', KEYS[2], 'archived_messages', ARGV[7])
redis.call('HINCRBY', KEYS[2], 'archived_bytes', ARGV[8])
return {'recorded'}
"""
)

# KEYS: segments. ARGV: score, old member, new member.
REPLACE = """
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"""

# KEYS: segments. ARGV: score, name, score, name, ...
REMOVE = (
    HELPERS
    + """
local removed = 0
for i = 1, #ARGV, 2 do
  local member = find(KEYS[1], ARGV[i], ARGV[i + 1])
  if member then
    redis.call('ZREM', KEYS[1], member)
    removed = removed + 1
  end
end
return removed
"""
)

# KEYS: segments, state. ARGV: expected archived_until or '', expected count,
# new archived_until or '', messages, bytes, now_ms, then score, member pairs.
REPLACE_ALL = """
local done = redis.call('HGET', KEYS[2], 'archived_until') or ''
if done ~= ARGV[1] or redis.call('ZCARD', KEYS[1]) ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('DEL', KEYS[1])
for i = 7, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[2], 'archived_until', ARGV[3], 'updated_ms', ARGV[6])
  redis.call('HSETNX', KEYS[2], 'archived_messages', ARGV[4])
  redis.call('HSETNX', KEYS[2], 'archived_bytes', ARGV[5])
end
return 1
"""

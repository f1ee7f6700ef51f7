"""The Lua scripts that change a replay job hash, each in one atomic step.

Each touches the job hash alone, so it runs in Redis Cluster too, where the
job sets ``sw:replay:jobs`` and ``sw:replay:active`` live in other slots;
:class:`~streamweaver.replay.jobs.JobStore` updates those around the scripts,
in an order that a crash in between cannot turn into a lost job. Times are
Redis server time (``TIME``) in milliseconds.
"""

NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: job. ARGV: ttl_ms, then field/value pairs. A finished job (rejected)
# starts expiring at once.
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' and state ~= 'running' then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1
"""

# KEYS: job. ARGV: owner, lease_ms. Returns the claim number (the job's claims
# counter, above 0) when the caller now runs the job, 0 when it may not, -1 when
# the job is gone or has ended (no longer active).
CLAIM = (
    NOW
    + """
local job = redis.call('HMGET', KEYS[1], 'state', 'owner', 'lease_until_ms')
local state, owner, lease = job[1], job[2], tonumber(job[3] or '0')
if state ~= 'queued' and state ~= 'running' then return -1 end
if state == 'queued' or (state == 'running' and (lease <= now or owner == ARGV[1]))
then
  redis.call('HSET', KEYS[1], 'state', 'running', 'owner', ARGV[1],
             'lease_until_ms', now + tonumber(ARGV[2]), 'updated_ms', now)
  local started = redis.call('HGET', KEYS[1], 'started_ms')
  if not started or started == '' then
    redis.call('HSET', KEYS[1], 'started_ms', now)
  end
  return redis.call('HINCRBY', KEYS[1], 'claims', 1)
end
return 0
"""
)

# KEYS: job. ARGV: owner, then progress field/value pairs. Copies a runner's
# progress into the job hash; returns 'ok', 'cancel' or 'lost'.
MIRROR = (
    NOW
    + """
local job = redis.call('HMGET', KEYS[1], 'state', 'owner', 'cancel')
if job[1] ~= 'running' or job[2] ~= ARGV[1] then return 'lost' end
redis.call('HSET', KEYS[1], 'updated_ms', now, unpack(ARGV, 2))
if job[3] == '1' then return 'cancel' end
return 'ok'
"""
)

# KEYS: job. ARGV: owner, lease_ms. Returns 'ok', 'cancel' or 'lost'.
RENEW = (
    NOW
    + """
local job = redis.call('HMGET', KEYS[1], 'state', 'owner', 'cancel')
if job[1] ~= 'running' or job[2] ~= ARGV[1] then return 'lost' end
redis.call('HSET', KEYS[1], 'lease_until_ms', now + tonumber(ARGV[2]))
if job[3] == '1' then return 'cancel' end
return 'ok'
"""
)

# KEYS: job. ARGV: owner. Gives the lease up so any broker may resume the job.
RELEASE = """
local job = redis.call('HMGET', KEYS[1], 'state', 'owner')
if job[1] ~= 'running' or job[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease_until_ms', 0)
return 1
"""

# KEYS: job. ARGV: owner, ttl_ms, then field/value pairs.
FINISH = (
    NOW
    + """
local job = redis.call('HMGET', KEYS[1], 'state', 'owner')
if job[1] ~= 'running' or job[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'finished_ms', now, 'updated_ms', now,
           'lease_until_ms', 0, unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
)

# KEYS: job. ARGV: ttl_ms. Returns the state after the call.
CANCEL = (
    NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
if state == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_ms', now,
             'updated_ms', now, 'error', 'cancelled',
             'message', 'cancelled before it started')
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return 'cancelled'
end
if state == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1', 'updated_ms', now)
end
return state
"""
)

-- Lease up to N due jobs of one shard: re-score each to now + lease, bump its
-- version and stamp it with this claim's fence, and return it with its record, so
-- no separate load. The LIMIT bounds the work of one call whatever the backlog.
-- The fence is unique per claim (the worker sends a fresh ULID): a version alone can
-- repeat after Redis loses a write (failover to a lagging replica, the AOF fsync
-- window), and a stale holder whose version matched again could overwrite the new
-- holder's state. Commits compare both.
-- KEYS[1] the shard's due set
-- ARGV[1] limit, ARGV[2] lease ms, ARGV[3] job key prefix ("{ns:N}:job:"),
-- ARGV[4] the claim's fence
-- Returns {now, earliest remaining score or '', id, v, req, run, sc, sp, id, ...,
-- takeovers}: the last element counts the jobs whose previous holder's lease had
-- run out (it still stood in 'h'), so the worker can count takeovers.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local lease_until = now + tonumber(ARGV[2])
local out = {now, ''}
local leased = {}
local takeovers = 0
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  local f = redis.call('HMGET', key, 'v', 'req', 'run', 'sc', 'sp', 'h')
  if not f[1] then
    -- the record expired or was deleted: drop the stale schedule entry
    redis.call('ZREM', KEYS[1], id)
  else
    local v = tonumber(f[1]) + 1
    if tonumber(f[6] or '0') > 0 then
      takeovers = takeovers + 1
    end
    redis.call('HSET', key, 'v', v, 'h', lease_until, 'f', ARGV[4])
    leased[#leased + 1] = lease_until
    leased[#leased + 1] = id
    out[#out + 1] = id
    out[#out + 1] = v
    out[#out + 1] = f[2]
    out[#out + 1] = f[3]
    out[#out + 1] = f[4] or '0'
    out[#out + 1] = f[5] or '0'
  end
end
if #leased > 0 then
  redis.call('ZADD', KEYS[1], unpack(leased))
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then
  out[2] = first[2]
end
out[#out + 1] = takeovers
return out

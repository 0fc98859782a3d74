-- Record a signal on a job. A job nobody holds is made due now; on a held job the
-- signal waits for that worker's commit (signals never break a lease).
-- KEYS[1] job hash, KEYS[2] the shard's due set
-- ARGV[1] job id, ARGV[2] 'cancel' | 'poke', ARGV[3] wake channel, ARGV[4] shard
-- Returns {0} unknown job, {-1, state} finished, {-2, state} parked (poke only),
-- else {1, state, held (0/1)}.
local f = redis.call('HMGET', KEYS[1], 'v', 'st', 'h')
if not f[1] then
  return {0}
end
local st = f[2]
if st == 'succeeded' or st == 'failed' or st == 'cancelled' then
  return {-1, st}
end
if ARGV[2] == 'cancel' then
  redis.call('HSET', KEYS[1], 'sc', 1)
else
  if st == 'needs_attention' then
    return {-2, st}
  end
  redis.call('HINCRBY', KEYS[1], 'sp', 1)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = tonumber(f[3] or '0') > now
if not held then
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return {1, st, held and 1 or 0}

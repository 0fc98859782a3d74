-- Create a job and make it due now, in one step (one slot: the job's shard).
-- KEYS[1] job hash, KEYS[2] the shard's due set
-- ARGV[1] job id, ARGV[2] spec JSON, ARGV[3] run JSON, ARGV[4] state,
-- ARGV[5] wake channel, ARGV[6] shard number
-- Returns Redis time in ms, or 0 when the id exists already.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'v', 1, 'req', ARGV[2], 'run', ARGV[3], 'st', ARGV[4])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return now

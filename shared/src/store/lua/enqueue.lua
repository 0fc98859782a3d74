-- Create a job and make it due now, in one step (one slot: the job's shard).
-- KEYS[1] job hash, KEYS[2] the shard's due set
-- ARGV[1] job id, ARGV[2] spec JSON, ARGV[3] run JSON, ARGV[4] state,
-- ARGV[5] wake channel, ARGV[6] shard number
-- KEYS[3] the shard's job counts (state|provider -> jobs), ARGV[7] the provider: the
-- job is counted in its first state, and keeps its provider in 'pk' so that commits
-- can move it from one state's count to the next
-- Returns Redis time in ms, or 0 when the id exists already.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'v', 1, 'req', ARGV[2], 'run', ARGV[3], 'st', ARGV[4], 'pk', ARGV[7])
redis.call('HINCRBY', KEYS[3], ARGV[4] .. '|' .. ARGV[7], 1)
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return now

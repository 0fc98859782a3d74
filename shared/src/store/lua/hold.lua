-- The hot path of a step chain: the worker goes on with a job whose lease is still
-- young, so nothing is re-scored and no clock is read; only the compare-and-set on
-- the version and the new run state. Arguments are few and pre-formatted: this
-- script runs once per step.
-- KEYS[1] job hash
-- ARGV[1] expected version, ARGV[2] new version, ARGV[3] run JSON, ARGV[4] state,
-- ARGV[5] the claim's fence (see claim.lua), ARGV[6] the changes channel and ARGV[7]
-- the job id: the id is published there after the write (the api's event streams)
-- KEYS[2] the shard's job counts (see commit.lua: a changed state moves the job's count)
-- Returns {-1} when the version or fence moved on (lease lost), else {v, -1, pokes, cancel}.
local f = redis.call('HMGET', KEYS[1], 'v', 'sp', 'sc', 'f', 'st', 'pk')
if f[1] ~= ARGV[1] or (f[4] or '') ~= ARGV[5] then
  return {-1}
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'run', ARGV[3], 'st', ARGV[4])
if ARGV[6] and ARGV[6] ~= '' then
  redis.call('PUBLISH', ARGV[6], ARGV[7])
end
if f[6] and f[5] and f[5] ~= ARGV[4] then
  redis.call('HINCRBY', KEYS[2], f[5] .. '|' .. f[6], -1)
  redis.call('HINCRBY', KEYS[2], ARGV[4] .. '|' .. f[6], 1)
end
return {ARGV[2], -1, f[2] or '0', f[3] or '0'}

-- The spend guardrail of one account: the set of its open provisions (job ids),
-- so that taking twice counts once and releasing twice frees once.
-- KEYS[1] the account's open-orders set
-- ARGV[1] 'take' | 'release', ARGV[2] job id, ARGV[3] cap (take)
-- Returns {1, open} when the job holds a place (take) or was let go (release),
-- {0, open} when a take is refused: the cap is reached without this job.
local open = redis.call('SCARD', KEYS[1])
if ARGV[1] == 'release' then
  redis.call('SREM', KEYS[1], ARGV[2])
  return {1, redis.call('SCARD', KEYS[1])}
end
local cap = tonumber(ARGV[3])
if redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 1 then
  if open <= cap then
    return {1, open}
  end
  return {0, open}
end
if open >= cap then
  return {0, open}
end
redis.call('SADD', KEYS[1], ARGV[2])
return {1, open + 1}

-- The spend guardrail's amount per day of one account: a hash of job id → amount
-- (cents) ordered that UTC day, so that a job counted twice counts once.
-- KEYS[1] the account's hash of that day
-- ARGV[1] 'spend' | 'peek', ARGV[2] job id, ARGV[3] amount (cents),
-- ARGV[4] cap (cents), ARGV[5] expiry (ms)
-- Returns {1, spent} when the amount is (or was already) counted, or for a peek;
-- {0, spent} when it would pass the cap (nothing counted).
local spent = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  spent = spent + tonumber(v)
end
if ARGV[1] == 'peek' then
  return {1, spent}
end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
  return {1, spent}
end
local amount = tonumber(ARGV[3])
if spent + amount > tonumber(ARGV[4]) then
  return {0, spent}
end
redis.call('HSET', KEYS[1], ARGV[2], amount)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return {1, spent + amount}

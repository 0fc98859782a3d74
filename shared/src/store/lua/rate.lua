-- A token bucket per provider account, shared by every worker, plus a pause that a
-- provider's 429/Retry-After sets for the whole account.
-- KEYS[1] the account's bucket hash
-- ARGV[1] 'take' | 'pause', ARGV[2] tokens per second, ARGV[3] burst, ARGV[4] pause ms
-- Returns 0 when a call may go now, else how many ms to wait.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] == 'pause' then
  local till = now + tonumber(ARGV[4])
  local cur = tonumber(redis.call('HGET', KEYS[1], 'p') or '0')
  if till > cur then
    redis.call('HSET', KEYS[1], 'p', till)
  end
  redis.call('PEXPIRE', KEYS[1], math.max(tonumber(ARGV[4]), 60000))
  return 0
end
local f = redis.call('HMGET', KEYS[1], 'n', 'ts', 'p')
local paused = tonumber(f[3] or '0')
if paused > now then
  return paused - now
end
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tokens = tonumber(f[1] or ARGV[3])
local ts = tonumber(f[2] or now)
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'n', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], 60000)
return wait

-- Give a key a job holds (a server or service lock, an Idempotency-Key) its expiry,
-- or take it away, but only while it still names that job: a key another job has
-- taken over since is left alone.
-- KEYS[1] the key; ARGV[1] job id; ARGV[2] ttl ms (0 = no expiry)
-- A lock holds the job id; an idempotency reservation "<job id>|<digest>[|<taker>]".
-- Returns 1 when the key is the job's, 0 otherwise.
local v = redis.call('GET', KEYS[1])
if not v then
  return 0
end
local id = ARGV[1]
if v ~= id and string.sub(v, 1, #id + 1) ~= id .. '|' then
  return 0
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('PERSIST', KEYS[1])
end
return 1

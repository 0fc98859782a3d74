-- Replace a string value only if it still holds what the caller read.
-- KEYS[1] key; ARGV[1] expected value, ARGV[2] new value, ARGV[3] ttl ms (0 = none)
-- Returns 1 when replaced, 0 otherwise.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1

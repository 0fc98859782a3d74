-- Delete a string key only if it still holds what the caller wrote, so that a
-- request cleaning up after itself never removes a value someone else took over.
-- KEYS[1] key; ARGV[1] expected value
-- Returns 1 when deleted, 0 otherwise.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1

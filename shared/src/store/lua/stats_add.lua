-- Adds a worker's counter deltas to the shared stats hash, all in one call.
-- KEYS[1] the stats hash
-- ARGV field, delta, field, delta, ...
for i = 1, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
return #ARGV / 2

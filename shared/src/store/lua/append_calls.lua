-- Append provider calls to a job's audit trail, keep the last ARGV[1], and let the
-- trail expire when the job does (the job hash's TTL, or none while it lives).
-- Never touches the job hash: the trail is a list of its own, written after the
-- step's commit.
-- KEYS[1] job hash, KEYS[2] the job's call list (same shard)
-- ARGV[1] most calls kept, ARGV[2..] the calls as JSON, oldest first (none: only
-- the TTL is copied, after a commit that ended the job or a retry that revived it)
-- Returns the trail's length, or -1 when the job record is gone (nothing written).
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then
  return -1
end
for i = 2, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[1]), -1)
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
else
  redis.call('PERSIST', KEYS[2])
end
return redis.call('LLEN', KEYS[2])

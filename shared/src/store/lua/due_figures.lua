-- What /metrics shows of one shard's due-set, read in one call per shard.
-- Members include leased jobs (scored at their lease's end) and callback records.
-- KEYS[1] the shard's due set
-- Returns {now, members, members due by now, earliest score or ''}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local members = redis.call('ZCARD', KEYS[1])
local due = redis.call('ZCOUNT', KEYS[1], '-inf', now)
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {now, members, due, first[2] or ''}

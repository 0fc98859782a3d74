-- Write a job's new run state if the caller still holds it (compare-and-set on the
-- version and the claim's fence), and re-schedule it, in one step.
-- KEYS[1] job hash, KEYS[2] the shard's due set
-- ARGV[1] job id, ARGV[2] expected version, ARGV[3] run JSON, ARGV[4] state,
-- ARGV[5] mode: keep (hold on: due at now + lease) | hold (hold on, the lease is still
--               young: no re-score, the hot path of a step chain) | at (due at now + ms) |
--               park (off the schedule: needs_attention) | done (terminal)
-- ARGV[6] ms: the lease (keep), the delay (at), the retention (done; 0 = forever)
-- ARGV[7] pokes seen, ARGV[8] cancel seen (0/1), ARGV[9] wake channel, ARGV[10] shard,
-- ARGV[11] the fence the caller read (its claim's, '' for a job never claimed)
-- Optional, with a terminal or needs_attention commit of a job that has a callback URL
-- (the outbox): KEYS[3] the callback record (same shard), ARGV[12] its due-set member,
-- ARGV[13] its payload JSON. It is created and made due now together with the job's
-- new state, or not at all.
-- ARGV[14] the changes channel: the job id is published there after the write ('' for
-- a callback record's commit: nobody follows those). Without a callback, ARGV[12] and
-- ARGV[13] are '' so that it keeps its place.
-- Last KEY (KEYS[3] without a callback record, KEYS[4] with one): the shard's job
-- counts (see enqueue.lua); a job whose state changes moves from the old state's
-- count to the new one's. Callback records and jobs written before 'pk' existed are
-- not counted.
-- Returns {-1} when the version or fence moved on (lease lost), else
-- {v, now, pokes, cancel} (now is -1 when the script had no need to read the clock).
local f = redis.call('HMGET', KEYS[1], 'v', 'sp', 'sc', 'f', 'st', 'pk')
if not f[1] or f[1] ~= ARGV[2] or (f[4] or '') ~= ARGV[11] then
  return {-1}
end
local now = -1
local function clock()
  if now < 0 then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now
end
local v = tonumber(f[1]) + 1
local pokes = f[2] or '0'
local cancel = f[3] or '0'
local mode = ARGV[5]
local ms = tonumber(ARGV[6])
if mode == 'hold' then
  redis.call('HSET', KEYS[1], 'v', v, 'run', ARGV[3], 'st', ARGV[4])
elseif mode == 'keep' then
  local till = clock() + ms
  redis.call('HSET', KEYS[1], 'v', v, 'run', ARGV[3], 'st', ARGV[4], 'h', till)
  redis.call('ZADD', KEYS[2], till, ARGV[1])
elseif mode == 'at' then
  -- a finished job an operator retried must not keep its retention expiry
  redis.call('PERSIST', KEYS[1])
  local due = clock() + ms
  -- a signal that arrived while the job was held takes effect now
  if pokes ~= ARGV[7] or cancel ~= ARGV[8] then
    due = now
  end
  redis.call('HSET', KEYS[1], 'v', v, 'run', ARGV[3], 'st', ARGV[4], 'h', 0)
  redis.call('ZADD', KEYS[2], due, ARGV[1])
  if due <= now then
    redis.call('PUBLISH', ARGV[9], ARGV[10])
  end
elseif mode == 'park' then
  redis.call('PERSIST', KEYS[1])
  redis.call('HSET', KEYS[1], 'v', v, 'run', ARGV[3], 'st', ARGV[4], 'h', 0)
  if cancel ~= ARGV[8] then
    redis.call('ZADD', KEYS[2], clock(), ARGV[1])
  else
    redis.call('ZREM', KEYS[2], ARGV[1])
  end
else
  redis.call('HSET', KEYS[1], 'v', v, 'run', ARGV[3], 'st', ARGV[4], 'h', 0)
  redis.call('ZREM', KEYS[2], ARGV[1])
  if ms > 0 then
    redis.call('PEXPIRE', KEYS[1], ms)
  end
end
if f[6] and f[5] and f[5] ~= ARGV[4] then
  redis.call('HINCRBY', KEYS[#KEYS], f[5] .. '|' .. f[6], -1)
  redis.call('HINCRBY', KEYS[#KEYS], ARGV[4] .. '|' .. f[6], 1)
end
if #KEYS == 4 then
  redis.call('HSET', KEYS[3], 'v', 1, 'req', ARGV[13], 'run', '{}', 'st', 'callback')
  redis.call('ZADD', KEYS[2], clock(), ARGV[12])
end
if ARGV[14] and ARGV[14] ~= '' then
  redis.call('PUBLISH', ARGV[14], ARGV[1])
end
return {v, now, pokes, cancel}

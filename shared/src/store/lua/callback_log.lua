-- Append one delivery attempt to a job's callback log (field `cbl`), keeping the
-- last ARGV[2]. It never touches `v`: the deliverer does not hold the job, and a
-- worker that does must not lose its compare-and-set to a log line.
-- KEYS[1] job hash; ARGV[1] the attempt as JSON, ARGV[2] most entries kept
-- Returns the log's length, or 0 when the job record is gone (expired).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local raw = redis.call('HGET', KEYS[1], 'cbl')
local log = {}
if raw then
  log = cjson.decode(raw)
end
log[#log + 1] = cjson.decode(ARGV[1])
local cap = tonumber(ARGV[2])
while #log > cap do
  table.remove(log, 1)
end
redis.call('HSET', KEYS[1], 'cbl', cjson.encode(log))
return #log

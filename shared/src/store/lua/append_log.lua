-- Append one entry to a log field of a job hash (`cbl` callback attempts, `crl`
-- credential reads), keeping the last ARGV[3]. It never touches `v`: the writer
-- (a callback deliverer, the api) does not hold the job, and a worker that does
-- must not lose its compare-and-set to a log line.
-- KEYS[1] job hash; ARGV[1] the field, ARGV[2] the entry as JSON, ARGV[3] most
-- entries kept. Returns the log's length, or 0 when the job record is gone.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local log = {}
if raw then
  log = cjson.decode(raw)
end
log[#log + 1] = cjson.decode(ARGV[2])
local cap = tonumber(ARGV[3])
while #log > cap do
  table.remove(log, 1)
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(log))
return #log

-- Lowers a run's retry_at (the earliest not-before time of its waiting contacts).
-- KEYS[1] the run's meta hash.
-- ARGV[1] the time, ms since the epoch.
-- Returns the retry_at in force afterwards.
local at = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'retry_at'))
if not cur or at < cur then
  redis.call('HSET', KEYS[1], 'retry_at', at)
  return at
end
return cur

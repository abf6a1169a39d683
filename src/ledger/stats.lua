-- stats.lua: a limit group's counts and stored tier state in one read (ledger/redis.rs).
--
-- KEYS[1]  conversations zset (see admit.lua)
-- KEYS[2]  tier state hash: v = version (absent = 0), s = state JSON
-- ARGV[1]  now (ms)   ARGV[2] window (ms)   ARGV[3] lookback (ms)
--
-- Returns {unique in window, unique in lookback, oldest score in the window or -1, version,
-- state JSON or "", ms Redis was found to have lost the group's records or -1}.
local now = tonumber(ARGV[1])
local wcut = now - tonumber(ARGV[2])
local lcut = now - tonumber(ARGV[3])
local c24 = redis.call('ZCOUNT', KEYS[1], '(' .. wcut, '+inf')
local c7 = redis.call('ZCOUNT', KEYS[1], '(' .. lcut, '+inf')
local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. wcut, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local first = -1
if oldest[2] then first = tonumber(oldest[2]) end
local version = tonumber(redis.call('HGET', KEYS[2], 'v') or '0')
local lost = tonumber(redis.call('HGET', KEYS[2], 'lost') or '-1')
return {c24, c7, first, version, redis.call('HGET', KEYS[2], 's') or '', lost}

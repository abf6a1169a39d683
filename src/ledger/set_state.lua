-- set_state.lua: compare-and-set a limit group's tier state (ledger/redis.rs).
--
-- KEYS[1]  tier state hash: v = version (absent = 0), s = state JSON
-- ARGV[1]  the version the caller read (-1 = only read, never write)
-- ARGV[2]  the new state JSON
--
-- Returns {1, new version, state JSON} when written, else {0, version, state JSON or ""}.
local version = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if version ~= tonumber(ARGV[1]) then
  return {0, version, redis.call('HGET', KEYS[1], 's') or ''}
end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'v', version + 1)
return {1, version + 1, ARGV[2]}

-- Acquires or renews the lease on one campaign run, so exactly one daemon instance works on it.
-- KEYS[1] meta hash, KEYS[2] states hash, KEYS[3] in-flight set (same hash tag).
-- ARGV[1] now (ms since epoch, from the caller's clock), ARGV[2] ttl (ms), ARGV[3] owner token
--   (unique per process), ARGV[4] "release" to give the lease up instead, or "take" to take it
--   even from another live owner (only the replica holding the run's sender lease does that,
--   after it took the sender from a silent replica: the old owner is fenced out).
-- Returns {1, fence, until} when the caller holds the lease, {0, owner, until} when another does.
-- A new holder bumps the fence (older holders' writes are then refused) and turns the previous
-- holder's in-flight contacts into `unknown`: they may have been sent, so they are never resent.
local now, ttl, me = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local owner = redis.call('HGET', KEYS[1], 'owner')
local held_until = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
if ARGV[4] == 'release' then
  if owner == me then
    redis.call('HDEL', KEYS[1], 'owner', 'lease_until')
  end
  return {0, '', 0}
end
if owner and owner ~= me and held_until > now and ARGV[4] ~= 'take' then
  return {0, owner, held_until}
end
local fence
if owner ~= me then
  fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
  local stale = redis.call('SMEMBERS', KEYS[3])
  for _, field in ipairs(stale) do
    local v = redis.call('HGET', KEYS[2], field)
    if v and string.sub(v, 1, 1) == 'f' then
      redis.call('HSET', KEYS[2], field, 'u' .. string.sub(v, 2))
      redis.call('HINCRBY', KEYS[1], 'n:in_flight', -1)
      redis.call('HINCRBY', KEYS[1], 'n:unknown', 1)
    end
  end
  redis.call('DEL', KEYS[3])
else
  fence = tonumber(redis.call('HGET', KEYS[1], 'fence'))
end
redis.call('HSET', KEYS[1], 'owner', me, 'lease_until', now + ttl)
return {1, fence, now + ttl}

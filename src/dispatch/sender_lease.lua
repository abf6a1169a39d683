-- Acquires, renews or releases the lease on one sender, so exactly one replica paces it.
-- KEYS[1] the sender's lease hash (fields token, replica, until, fence, quiet_until).
-- ARGV[1] now (ms since epoch, from the caller's clock), ARGV[2] ttl (ms), ARGV[3] token
--   (unique per dispatcher), ARGV[4] replica id (for status), ARGV[5] "acquire" or "release",
--   ARGV[6] with acquire: how long (ms) the lease must have been free before this caller may
--   take it (0 for the replica the ownership plan names); with release: quiet_until (ms).
-- ARGV[7] with acquire: how long (ms) the holder counts as live after this renewal (its
--   beats); ARGV[8] '1' when the caller may take the lease from a holder whose liveness ran out
--   (a dead replica: its sender moves before the lease's TTL ends; the holder starts no send
--   in the last beat of its liveness).
-- Returns {1, fence, until} when the caller holds the lease, {0, replica, until} when another
-- replica does, {2, '', until} when it is free but may not be taken before `until`.
-- A holder sends only while more than one second (the throughput cap's window) is left on its
-- lease, and a release names when its last send's second ends (`quiet_until`), so a new holder
-- never shares a second with the previous one at the provider.
local now, ttl, me = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local h = redis.call('HMGET', KEYS[1], 'token', 'replica', 'until', 'quiet_until', 'live_until')
local token, holder = h[1], h[2]
local held_until = tonumber(h[3] or '0')
local quiet = tonumber(h[4] or '0')
local live_until = tonumber(h[5] or '0')
if ARGV[5] == 'release' then
  if token == me then
    redis.call('HDEL', KEYS[1], 'token', 'replica', 'until', 'live_until')
    redis.call('HSET', KEYS[1], 'quiet_until', ARGV[6])
  end
  return {0, '', 0}
end
local taken = false
if token and token ~= me and held_until > now then
  if ARGV[8] == '1' and live_until > 0 and live_until <= now then
    taken = true
  else
    return {0, holder or '', held_until}
  end
end
if token ~= me and not taken then
  local free_since = math.max(held_until, quiet)
  local may_from = math.max(quiet, free_since + tonumber(ARGV[6]))
  if may_from > now then
    return {2, '', may_from}
  end
end
local fence
if token ~= me then
  fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
else
  fence = tonumber(redis.call('HGET', KEYS[1], 'fence'))
end
redis.call('HSET', KEYS[1], 'token', me, 'replica', ARGV[4], 'until', now + ttl,
  'live_until', now + tonumber(ARGV[7]))
return {1, fence, now + ttl}

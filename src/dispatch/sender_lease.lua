-- Acquires, renews or releases the lease on one sender, so exactly one replica paces it.
-- KEYS[1] the sender's lease hash (fields token, replica, until, fence, quiet_until).
-- ARGV[1] now (ms since epoch, from the caller's clock), ARGV[2] ttl (ms), ARGV[3] token
--   (unique per dispatcher), ARGV[4] replica id (for status), ARGV[5] "acquire" or "release",
--   ARGV[6] with acquire: how long (ms) the lease must have been free before this caller may
--   take it (0 for the replica the ownership plan names); with release: quiet_until (ms).
-- Returns {1, fence, until} when the caller holds the lease, {0, replica, until} when another
-- replica does, {2, '', until} when it is free but may not be taken before `until`.
-- A holder sends only while more than one second (the throughput cap's window) is left on its
-- lease, and a release names when its last send's second ends (`quiet_until`), so a new holder
-- never shares a second with the previous one at the provider.
local now, ttl, me = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local h = redis.call('HMGET', KEYS[1], 'token', 'replica', 'until', 'quiet_until')
local token, holder = h[1], h[2]
local held_until = tonumber(h[3] or '0')
local quiet = tonumber(h[4] or '0')
if ARGV[5] == 'release' then
  if token == me then
    redis.call('HDEL', KEYS[1], 'token', 'replica', 'until')
    redis.call('HSET', KEYS[1], 'quiet_until', ARGV[6])
  end
  return {0, '', 0}
end
if token and token ~= me and held_until > now then
  return {0, holder or '', held_until}
end
if token ~= me then
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
redis.call('HSET', KEYS[1], 'token', me, 'replica', ARGV[4], 'until', now + ttl)
return {1, fence, now + ttl}

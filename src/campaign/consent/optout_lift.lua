-- optout_lift.lua: lift an opt-out (campaign/consent.rs, RedisConsent::lift).
--
-- KEYS[1]  hash of opt-outs of everything (see optout_add.lua)
-- KEYS[2]  hash of marketing-only opt-outs
-- KEYS[3]  hash of lifts (see optout_add.lua)
-- ARGV[1]  contact key hex   ARGV[2] scope lifted: "all" (the contact consents again to
--          everything) or "marketing" (Meta's `resume`: only a marketing opt-out goes)
-- ARGV[3]  the lift's time, unix seconds (the provider's event time when it gave one)
--
-- A lift older than the latest opt-out it would remove (an old opted-in arriving after a newer
-- opted-out) changes nothing. Otherwise the lift's time is remembered, so an opt-out older than
-- it that arrives later changes nothing either.
-- Returns the number of entries removed (0 or 1), or -1 if refused as older than the opt-out.
local at = tonumber(ARGV[3])
local function latest(key)
  local v = redis.call('HGET', key, ARGV[1])
  if not v then return nil end
  local since, last = string.match(v, '^%S+ (%-?%d+) ?(%-?%d*)$')
  return tonumber(last) or tonumber(since) or 0
end
local function remember(field)
  local prev = tonumber(redis.call('HGET', KEYS[3], field) or '-1')
  if at > prev then redis.call('HSET', KEYS[3], field, at) end
end
local marketing = latest(KEYS[2])
if ARGV[2] == 'all' then
  local all = latest(KEYS[1])
  if (all and all > at) or (marketing and marketing > at) then return -1 end
  remember(ARGV[1])
  return redis.call('HDEL', KEYS[1], ARGV[1]) + redis.call('HDEL', KEYS[2], ARGV[1])
end
if marketing and marketing > at then return -1 end
remember('m:' .. ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])

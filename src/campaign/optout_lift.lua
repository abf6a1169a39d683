-- optout_lift.lua: lift an opt-out (campaign/consent.rs, RedisConsent::lift).
--
-- KEYS[1]  hash of opt-outs of everything (see optout_add.lua)
-- KEYS[2]  hash of marketing-only opt-outs
-- ARGV[1]  contact key hex   ARGV[2] scope lifted: "all" (the contact consents again to
--          everything) or "marketing" (Meta's `resume`: only a marketing opt-out goes)
--
-- Returns the number of entries removed (0 or 1).
if ARGV[2] == 'all' then
  return redis.call('HDEL', KEYS[1], ARGV[1]) + redis.call('HDEL', KEYS[2], ARGV[1])
end
return redis.call('HDEL', KEYS[2], ARGV[1])

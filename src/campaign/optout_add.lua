-- optout_add.lua: record one opt-out with its scope (campaign/consent.rs, RedisConsent::opt_out).
--
-- KEYS[1]  hash of opt-outs of everything: contact key hex -> "SOURCE UNIX_SECONDS"
--          (the layout every tierpace before scopes wrote: old entries mean "all")
-- KEYS[2]  hash of marketing-only opt-outs, same fields and values
--          (both keys carry the `{optout}` hash tag: one Cluster slot)
-- ARGV[1]  contact key hex   ARGV[2] scope: "all" or "marketing"   ARGV[3] "SOURCE UNIX_SECONDS"
--
-- The broader scope wins: an opt-out of everything removes a marketing one; a marketing opt-out
-- of a contact already opted out of everything changes nothing. The first opt-out's source and
-- time are kept (HSETNX): webhooks are retried. Returns 1 if something changed, else 0.
if ARGV[2] == 'all' then
  local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3])
  local narrowed = redis.call('HDEL', KEYS[2], ARGV[1])
  if added + narrowed > 0 then return 1 end
  return 0
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
return redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3])

-- optout_add.lua: record one opt-out with its scope (campaign/consent.rs, RedisConsent::opt_out).
--
-- KEYS[1]  hash of opt-outs of everything: contact key hex -> "SOURCE SINCE LATEST" (unix
--          seconds: the first opt-out, and the latest opt-out event seen; entries written before
--          LATEST existed are "SOURCE SINCE" and mean "all")
-- KEYS[2]  hash of marketing-only opt-outs, same fields and values
-- KEYS[3]  hash of lifts: contact key hex -> unix seconds of the latest lift of everything,
--          "m:" .. hex -> of the latest lift of a marketing opt-out
--          (all three keys carry the `{optout}` hash tag: one Cluster slot)
-- ARGV[1]  contact key hex   ARGV[2] scope: "all" or "marketing"   ARGV[3] SOURCE
-- ARGV[4]  the opt-out's time, unix seconds (the provider's event time when it gave one)
--
-- The broader scope wins: an opt-out of everything removes a marketing one; a marketing opt-out
-- of a contact already opted out of everything changes nothing. The first opt-out's source and
-- time are kept (webhooks are retried); a repeat only moves LATEST on. An opt-out older than a
-- lift of its scope (a replay, or a callback overtaken by a newer opt-in) changes nothing.
-- Returns 1 if something changed, 0 if not, -1 if refused as older than a lift.
local at = tonumber(ARGV[4])
local lifted = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '-1')
if ARGV[2] == 'marketing' then
  local m = tonumber(redis.call('HGET', KEYS[3], 'm:' .. ARGV[1]) or '-1')
  if m > lifted then lifted = m end
end
if lifted >= 0 and at < lifted then
  return -1
end
-- Moves LATEST of an existing entry on; false when there is none.
local function repeat_of(key)
  local v = redis.call('HGET', key, ARGV[1])
  if not v then return false end
  local source, since, latest = string.match(v, '^(%S+) (%-?%d+) ?(%-?%d*)$')
  if not source then return true end
  latest = tonumber(latest) or tonumber(since)
  if at > latest then
    redis.call('HSET', key, ARGV[1], source .. ' ' .. since .. ' ' .. at)
  end
  return true
end
local value = ARGV[3] .. ' ' .. at .. ' ' .. at
if ARGV[2] == 'all' then
  if repeat_of(KEYS[1]) then return 0 end
  redis.call('HSET', KEYS[1], ARGV[1], value)
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
if repeat_of(KEYS[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], value)
return 1

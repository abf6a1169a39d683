-- Claims contacts of one campaign run (in_flight) or records their skip, once each.
-- KEYS[1] states hash (contact field -> state), KEYS[2] meta hash (fence, counters, cursor),
-- KEYS[3] in-flight set. All three share the run's hash tag.
-- ARGV[1] the caller's fence token (its lease); then triples: field, value, kind where kind is
--   "claim" (value "f|LINE") or a counter name such as "skipped:no_opt_in".
-- Returns one string per triple: "" when newly written, else the state already there.
-- Errors with FENCED when the caller's lease is no longer the current one.
local fence = redis.call('HGET', KEYS[2], 'fence')
if fence ~= ARGV[1] then
  return redis.error_reply('FENCED')
end
local out = {}
for i = 2, #ARGV, 3 do
  local field, value, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local existing = redis.call('HGET', KEYS[1], field)
  if existing then
    out[#out + 1] = existing
  else
    redis.call('HSET', KEYS[1], field, value)
    if kind == 'claim' then
      redis.call('SADD', KEYS[3], field)
      redis.call('HINCRBY', KEYS[2], 'n:in_flight', 1)
    else
      redis.call('HINCRBY', KEYS[2], 'n:' .. kind, 1)
    end
    out[#out + 1] = ''
  end
end
return out

-- admit.lua: decide a batch of contacts for one limit group, atomically (ledger/redis.rs).
-- The tier policy is computed in Rust and passed in; this script only counts and records.
--
-- KEYS[1]  conversations zset: member = 8-byte contact, score = ms its current conversation opened
-- KEYS[2]  service windows zset: member = 8-byte contact, score = ms the customer last wrote to us
-- KEYS[3]  tier state hash: v = version (absent = 0), s = state JSON, lost = ms Redis was
--          found to have lost this group's records (see below), n = how many members KEYS[1]
--          held when a script last wrote it
-- KEYS[4]  epoch: a random id written when the group's records were created
-- ARGV[1]  now (ms since the epoch)       ARGV[2] window (ms)      ARGV[3] lookback (ms)
-- ARGV[4]  allowed new uniques per window (-1 = unlimited)           ARGV[5] budget of this call
-- ARGV[6]  the version of KEYS[3] the caller computed the policy from
-- ARGV[7]  lookback uniques that earn the next rung (-1 = none can be earned now)
-- ARGV[8]  state JSON to store when ARGV[7] is reached
-- ARGV[9]  at most this many expired entries are trimmed per key (bounded work per call)
-- ARGV[10] the epoch the caller saw last ("" = none yet)   ARGV[11] a fresh epoch id
-- ARGV[12..] the contacts, in order
--
-- Data loss (issue #8): when the epoch key is missing but the caller had seen one, Redis lost
-- the group (restarted empty, failover to an empty replica). Nobody knows who was reached in
-- the last window, so no new unique customer is admitted until `lost + window`.
-- Partial loss (issue #16): a Redis that evicts keys (any `maxmemory-policy` but noeviction) or
-- an operator's DEL can take the conversations set while the epoch stays. The count `n` kept
-- beside it says how many members it must hold at least; fewer means records vanished, and the
-- group is handled as lost. A hash without `n` (written before the count existed) adopts ZCARD.
--
-- Both replies end with `vanished`: 1 when this call found records missing (partial loss).
-- Returns {0, version, state JSON or "", epoch} when the tier state is not at ARGV[6] or the
-- epoch is not ARGV[10] (the caller recomputes and retries; nothing but the epoch and the loss
-- mark was written), else {1, slot ms, crossed 0/1, codes} where
-- codes has one digit per contact: 1 counted, 2 free (open conversation or service window),
-- 3 over this call's budget, 4 limit reached; slot = when the oldest conversation in the window
-- leaves it (now + window if the window is empty).
local now = tonumber(ARGV[1])
local wcut = now - tonumber(ARGV[2])
local lcut = now - tonumber(ARGV[3])
local allowed = tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local threshold = tonumber(ARGV[7])
local trim_limit = tonumber(ARGV[9])

local epoch = redis.call('GET', KEYS[4])
if not epoch then
  epoch = ARGV[11]
  redis.call('SET', KEYS[4], epoch)
  if ARGV[10] ~= '' then redis.call('HSET', KEYS[3], 'lost', now) end
end
local card = redis.call('ZCARD', KEYS[1])
local expected = redis.call('HGET', KEYS[3], 'n')
local vanished = 0
if expected and card < tonumber(expected) then
  vanished = 1
  redis.call('HSET', KEYS[3], 'lost', now, 'n', card)
elseif not expected then
  redis.call('HSET', KEYS[3], 'n', card)
end
local version = tonumber(redis.call('HGET', KEYS[3], 'v') or '0')
if version ~= tonumber(ARGV[6]) or epoch ~= ARGV[10] then
  return {0, version, redis.call('HGET', KEYS[3], 's') or '', epoch, vanished}
end
local lost = redis.call('HGET', KEYS[3], 'lost')
local blackout_until = -1
if lost and now < tonumber(lost) + tonumber(ARGV[2]) then
  blackout_until = tonumber(lost) + tonumber(ARGV[2])
end

-- Entries at or before the cutoff are no longer counted by anything; drop a bounded number.
local function trim(key, cutoff)
  local n = redis.call('ZCOUNT', key, '-inf', cutoff)
  if n > trim_limit then n = trim_limit end
  if n > 0 then redis.call('ZREMRANGEBYRANK', key, 0, n - 1) end
end
trim(KEYS[1], lcut)
trim(KEYS[2], wcut)

local c24 = redis.call('ZCOUNT', KEYS[1], '(' .. wcut, '+inf')
local c7 = 0
if threshold >= 0 then c7 = redis.call('ZCOUNT', KEYS[1], '(' .. lcut, '+inf') end

local counted = 0
local refused = false
local codes = {}
for i = 12, #ARGV do
  local m = ARGV[i]
  local opened = redis.call('ZSCORE', KEYS[1], m)
  if opened then opened = tonumber(opened) end
  local code
  if opened and opened > wcut then
    code = '2'
  else
    local wrote = redis.call('ZSCORE', KEYS[2], m)
    if wrote and tonumber(wrote) > wcut then
      code = '2'
    elseif blackout_until >= 0 or (allowed >= 0 and c24 >= allowed) then
      code = '4'
      refused = true
    elseif counted >= budget then
      code = '3'
    else
      redis.call('ZADD', KEYS[1], now, m)
      c24 = c24 + 1
      counted = counted + 1
      if not (opened and opened > lcut) then c7 = c7 + 1 end
      code = '1'
    end
  end
  codes[#codes + 1] = code
end

redis.call('HSET', KEYS[3], 'n', redis.call('ZCARD', KEYS[1]))

local crossed = 0
if threshold >= 0 and c7 >= threshold then
  redis.call('HSET', KEYS[3], 's', ARGV[8], 'v', version + 1)
  crossed = 1
end

local slot = now + tonumber(ARGV[2])
if blackout_until >= 0 then
  slot = blackout_until
elseif refused then
  local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. wcut, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if oldest[2] then slot = tonumber(oldest[2]) + tonumber(ARGV[2]) end
end
return {1, slot, crossed, table.concat(codes), vanished}

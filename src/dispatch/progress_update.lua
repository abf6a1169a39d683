-- Moves contacts of one campaign run to a later state, idempotently (Gupshup retries callbacks,
-- and a recovered `unknown` may still learn its outcome).
-- KEYS[1] states hash, KEYS[2] meta hash, KEYS[3] in-flight set.
-- ARGV: triples field, new value, new kind. Kinds and their order:
--   f in_flight < u unknown < s sent < d delivered < r read; x failed (from f, u, s or d);
--   a failed contact may be reset to nothing by kind "retry" (value ignored).
-- A move is applied only forward; counters n:<kind> follow (n:failed:<code> for failures).
-- Returns the number of moves applied.
local rank = { f = 0, u = 1, s = 2, d = 3, r = 4 }
local names = { f = 'in_flight', u = 'unknown', s = 'sent', d = 'delivered', r = 'read', x = 'failed' }
local applied = 0
for i = 1, #ARGV, 3 do
  local field, value, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local old = redis.call('HGET', KEYS[1], field)
  if old then
    local ok = false
    local from = string.sub(old, 1, 1)
    if kind == 'retry' then
      ok = (from == 'x')
    elseif kind == 'x' then
      ok = (rank[from] ~= nil and from ~= 'r')
    elseif rank[kind] ~= nil and rank[from] ~= nil then
      ok = rank[kind] > rank[from]
    end
    if ok then
      if from == 'f' then redis.call('SREM', KEYS[3], field) end
      redis.call('HINCRBY', KEYS[2], 'n:' .. names[from], -1)
      if from == 'x' then
        local code = string.match(old, '^x|[^|]*|([^|]*)')
        if code then redis.call('HINCRBY', KEYS[2], 'n:failed:' .. code, -1) end
      end
      if kind == 'retry' then
        redis.call('HDEL', KEYS[1], field)
      else
        redis.call('HSET', KEYS[1], field, value)
        redis.call('HINCRBY', KEYS[2], 'n:' .. names[kind], 1)
        if kind == 'x' then
          local code = string.match(value, '^x|[^|]*|([^|]*)')
          if code then redis.call('HINCRBY', KEYS[2], 'n:failed:' .. code, 1) end
        end
      end
      applied = applied + 1
    end
  end
end
return applied

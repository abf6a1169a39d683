-- Moves contacts of one campaign run to a later state, idempotently (Gupshup retries callbacks,
-- and a recovered `unknown` may still learn its outcome).
-- KEYS[1] states hash, KEYS[2] meta hash, KEYS[3] in-flight set, KEYS[4] attempts hash (contact
-- field -> retries so far: written with every w, kept while the contact is pending and sent
-- again, so a retry reported by a callback continues the ladder; removed by "retry").
-- ARGV: triples field, new value, new kind. Kinds and their order:
--   f in_flight < u unknown < s sent < d delivered < r read;
--   the end of a try, from f, u, s or d: x failed, w retrying, e deferred, i invalid;
--   "retry": a failed contact goes back to pending (value ignored);
--   "p": back to pending from any state but r read, k skipped and i invalid; value "rewind"
--   also asks the run's holder to re-read the audience.
-- A move is applied only forward; counters n:<name> follow (n:failed:<code> for failures).
-- Writing w or e lowers the meta's retry_at (ms) to the contact's not-before time.
-- Returns the number of moves applied.
local rank = { f = 0, u = 1, s = 2, d = 3, r = 4 }
local ends = { x = true, w = true, e = true, i = true }
local names = {
  f = 'in_flight', u = 'unknown', s = 'sent', d = 'delivered', r = 'read', x = 'failed',
  w = 'retrying', e = 'deferred', i = 'invalid'
}
local applied = 0
for i = 1, #ARGV, 3 do
  local field, value, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local old = redis.call('HGET', KEYS[1], field)
  if old then
    local ok = false
    local from = string.sub(old, 1, 1)
    if kind == 'retry' then
      ok = (from == 'x')
    elseif kind == 'p' then
      ok = (names[from] ~= nil and from ~= 'r' and from ~= 'i')
    elseif ends[kind] then
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
      if kind == 'retry' or kind == 'p' then
        redis.call('HDEL', KEYS[1], field)
        if kind == 'retry' then redis.call('HDEL', KEYS[4], field) end
        if value == 'rewind' then redis.call('HSET', KEYS[2], 'rewind', '1') end
      else
        redis.call('HSET', KEYS[1], field, value)
        redis.call('HINCRBY', KEYS[2], 'n:' .. names[kind], 1)
        if kind == 'x' then
          local code = string.match(value, '^x|[^|]*|([^|]*)')
          if code then redis.call('HINCRBY', KEYS[2], 'n:failed:' .. code, 1) end
        end
        if kind == 'w' then
          local attempt = string.match(value, '^w|[^|]*|[^|]*|%d+|(%d+)')
          if attempt then redis.call('HSET', KEYS[4], field, attempt) end
        end
        if kind == 'w' or kind == 'e' then
          local at = tonumber(string.match(value, '^[we]|[^|]*|[^|]*|(%d+)'))
          local cur = tonumber(redis.call('HGET', KEYS[2], 'retry_at'))
          if at and (not cur or at < cur) then redis.call('HSET', KEYS[2], 'retry_at', at) end
        end
      end
      applied = applied + 1
    end
  end
end
return applied

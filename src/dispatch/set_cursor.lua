-- Saves where the audience reader resumes, only for the current lease holder.
-- KEYS[1] meta hash. ARGV[1] fence, ARGV[2] cursor (opaque string).
-- Returns 1, or errors with FENCED.
if redis.call('HGET', KEYS[1], 'fence') ~= ARGV[1] then
  return redis.error_reply('FENCED')
end
redis.call('HSET', KEYS[1], 'cursor', ARGV[2])
return 1

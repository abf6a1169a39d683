-- Replaces a sender's active brakes in one write (every replica reads them each tick).
-- KEYS[1] the sender's brakes hash (brake as JSON -> since, ms).
-- ARGV: pairs brake JSON, since ms; none clears every brake.
-- Returns the number of brakes now active.
redis.call('DEL', KEYS[1])
for i = 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return #ARGV / 2

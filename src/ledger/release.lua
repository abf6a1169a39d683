-- release.lua: undo a counted admission whose send never reached WhatsApp (ledger/redis.rs).
--
-- KEYS[1]  conversations zset (see admit.lua)
-- KEYS[2]  tier state hash: its member count `n` goes down with the removal (see admit.lua)
-- ARGV[1]  the 8-byte contact   ARGV[2] the ms it was admitted at
--
-- Returns 1 if the contact's conversation opened at exactly ARGV[2] and was removed, else 0.
local opened = redis.call('ZSCORE', KEYS[1], ARGV[1])
if opened and tonumber(opened) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  if redis.call('HEXISTS', KEYS[2], 'n') == 1 then redis.call('HINCRBY', KEYS[2], 'n', -1) end
  return 1
end
return 0

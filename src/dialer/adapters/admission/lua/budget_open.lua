-- Open budget accounts at a spend, leaving any already open as they are.
--
-- KEYS: the accounts.
-- ARGV: per account: spent, milliseconds to keep it (-1: for good).

for i, key in ipairs(KEYS) do
  if redis.call('HSETNX', key, 'spent', ARGV[2 * i - 1]) == 1 then
    redis.call('HSET', key, 'reserved', 0)
    local keep = tonumber(ARGV[2 * i])
    if keep > 0 then redis.call('PEXPIRE', key, keep) end
  end
end
return #KEYS

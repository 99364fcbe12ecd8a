-- Settle reservations to their real cost: each account they hold gives the reservation back
-- and counts the cost as spent. An id not held (settled before, or expired) is skipped.
--
-- KEYS: 1 held, 2 expiries.
-- ARGV: 1 account key prefix, then per reservation: id, cost (-1: its worst case).
-- Answer: how many were settled.

local prefix = ARGV[1]
local settled = 0
for at = 2, #ARGV, 2 do
  local id, cost = ARGV[at], tonumber(ARGV[at + 1])
  local record = redis.call('HGET', KEYS[1], id)
  if record then
    local fields = {}
    for part in string.gmatch(record, '[^\t]+') do fields[#fields + 1] = part end
    local amount = tonumber(fields[1])
    if cost < 0 then cost = amount end
    for i = 2, #fields do
      local key = prefix .. fields[i]
      if redis.call('EXISTS', key) == 1 then
        redis.call('HINCRBY', key, 'reserved', -amount)
        redis.call('HINCRBY', key, 'spent', cost)
      end
    end
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    settled = settled + 1
  end
end
return settled

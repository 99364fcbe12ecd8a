-- Extend a live lease (every cap, and its number lock); a lease that expired or was released
-- stays gone.
--
-- KEYS: 1 global cap, 2 tenant cap, 3 campaign cap, 4 number key.
-- ARGV: 1 lease id, 2 ttl (us).
-- Answer: the new expiry (us), or 0 when the lease is not live.

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local lease_id = ARGV[1]
local expiry = tonumber(redis.call('ZSCORE', KEYS[1], lease_id) or 0)
if expiry <= now then return 0 end

expiry = now + tonumber(ARGV[2])
for i = 1, 3 do redis.call('ZADD', KEYS[i], 'XX', expiry, lease_id) end
if redis.call('GET', KEYS[4]) == lease_id then
  redis.call('SET', KEYS[4], lease_id, 'PXAT', math.ceil(expiry / 1000))
end
return expiry

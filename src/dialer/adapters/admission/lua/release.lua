-- Give leases back: every cap, and each number lock the lease still holds. Idempotent.
-- A released lease is remembered for a while (a tombstone), so that a reconciler pass that
-- read the store just before the release does not restore it.
--
-- KEYS: 1 global cap, 2 lease meta, 3 tombstones, then per lease: tenant cap, campaign cap,
--       number key.
-- ARGV: 1 tombstone lifetime (us), then the lease ids.
-- Answer: {now, then per lease: 1 when it was held, 0 when it was not}.

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local answer = {now}

for i = 2, #ARGV do
  local lease_id = ARGV[i]
  local at = 4 + 3 * (i - 2)
  local removed = redis.call('ZREM', KEYS[1], lease_id)
    + redis.call('ZREM', KEYS[at], lease_id)
    + redis.call('ZREM', KEYS[at + 1], lease_id)
  if redis.call('GET', KEYS[at + 2]) == lease_id then
    redis.call('DEL', KEYS[at + 2])
    removed = removed + 1
  end
  redis.call('HDEL', KEYS[2], lease_id)
  redis.call('ZADD', KEYS[3], now, lease_id)
  answer[#answer + 1] = removed > 0 and 1 or 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[1]))
return answer

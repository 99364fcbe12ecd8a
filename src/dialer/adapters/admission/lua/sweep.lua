-- Sweep expired leases from every registered cap and count the live ones. Caps left empty
-- leave the registries (the next acquire registers them again).
--
-- KEYS: 1 global cap, 2 lease meta, 3 tenant registry, 4 campaign registry, then one cap key
--       per tenant, then one per campaign.
-- ARGV: 1 tenant count T, then the T tenant ids, then the campaign ids.
-- Answer: {now, global count, then per tenant its count, then per campaign its count}.

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local ntenants = tonumber(ARGV[1])

local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 1, #expired, 1000 do
  local last = math.min(i + 999, #expired)
  redis.call('ZREM', KEYS[1], unpack(expired, i, last))
  redis.call('HDEL', KEYS[2], unpack(expired, i, last))
end

local answer = {now, redis.call('ZCARD', KEYS[1])}
for i = 2, #ARGV do
  local key = KEYS[3 + i]
  local registry = i - 1 <= ntenants and KEYS[3] or KEYS[4]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local count = redis.call('ZCARD', key)
  if count == 0 then redis.call('SREM', registry, ARGV[i]) end
  answer[#answer + 1] = count
end
return answer

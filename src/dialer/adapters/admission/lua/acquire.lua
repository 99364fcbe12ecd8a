-- Admit calls of one campaign. Each call takes everything or nothing: the global, tenant and
-- campaign caps, its number's lock and every rate limiter at once, or none of them.
-- Time is the server's (TIME), in microseconds, so every dispatcher shares one clock.
--
-- KEYS: 1 epoch, 2 global cap, 3 tenant cap, 4 campaign cap, 5 lease meta, 6 tenant registry,
--       7 campaign registry, then one key per rate limiter, then one number key per call.
-- ARGV: 1 global max, 2 tenant max (-1: none), 3 campaign max, 4 ttl (us), 5 tenant id,
--       6 campaign id, 7 limiter count L, then per limiter: refusal code, interval (us),
--       tolerance (us); then per call: lease id, phone.
-- Answer: {now, then per call: code, value}: "ok" and the expiry (us), or the refusing limit
--         and the wait before it may allow the call (us; -1 when it cannot tell).

local SWEEP_AT_LEAST = 256
local EPSILON = 0.001 -- one nanosecond, in microseconds: absorbs float rounding

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local global_max, tenant_max, campaign_max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, tenant_id, campaign_id = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local nlim = tonumber(ARGV[7])
local first_call = 8 + 3 * nlim
local ncalls = (#ARGV - first_call + 1) / 2

local answer = {now}
if redis.call('EXISTS', KEYS[1]) == 0 then
  for _ = 1, ncalls do
    answer[#answer + 1] = 'not_ready'
    answer[#answer + 1] = -1
  end
  return answer
end

local function chunked(command, key, items)
  for i = 1, #items, 1000 do
    redis.call(command, key, unpack(items, i, math.min(i + 999, #items)))
  end
end

-- Sweep expired leases: a bounded slice of the global set (with their meta), the whole of the
-- tenant and campaign sets. Live counts never depend on how much was swept.
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0,
  math.max(SWEEP_AT_LEAST, 2 * ncalls))
if #expired > 0 then
  chunked('ZREM', KEYS[2], expired)
  chunked('HDEL', KEYS[5], expired)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local held_global = redis.call('ZCOUNT', KEYS[2], string.format('(%.0f', now), '+inf')
local held_tenant = redis.call('ZCARD', KEYS[3])
local held_campaign = redis.call('ZCARD', KEYS[4])

local limiters = {}
for i = 1, nlim do
  local at = 8 + 3 * (i - 1)
  local tat = tonumber(redis.call('GET', KEYS[7 + i]) or now)
  limiters[i] = {code = ARGV[at], interval = tonumber(ARGV[at + 1]),
                 tolerance = tonumber(ARGV[at + 2]), tat = tat, key = KEYS[7 + i]}
end

local function cap_refusal()
  if held_global >= global_max then return 'global_cap' end
  if tenant_max >= 0 and held_tenant >= tenant_max then return 'tenant_cap' end
  if held_campaign >= campaign_max then return 'campaign_cap' end
  return nil
end

local function rate_refusal()
  for _, limiter in ipairs(limiters) do
    local ahead = math.max(limiter.tat, now) - now
    if ahead > limiter.tolerance + EPSILON then
      return limiter.code, math.ceil(ahead - limiter.tolerance)
    end
  end
  return nil, 0
end

local expiry = now + ttl
local expiry_ms = math.ceil(expiry / 1000)
local meta = tenant_id .. '\t' .. campaign_id .. '\t'
local admitted = 0

local function admit(lease_id, phone, number_key)
  for _, limiter in ipairs(limiters) do
    limiter.tat = math.max(limiter.tat, now) + limiter.interval
  end
  redis.call('ZADD', KEYS[2], expiry, lease_id)
  redis.call('ZADD', KEYS[3], expiry, lease_id)
  redis.call('ZADD', KEYS[4], expiry, lease_id)
  redis.call('SET', number_key, lease_id, 'PXAT', expiry_ms)
  redis.call('HSET', KEYS[5], lease_id, meta .. phone .. '\t' .. string.format('%.0f', now))
  held_global, held_tenant, held_campaign = held_global + 1, held_tenant + 1, held_campaign + 1
  admitted = admitted + 1
end

for call = 1, ncalls do
  local lease_id, phone = ARGV[first_call + 2 * (call - 1)], ARGV[first_call + 2 * call - 1]
  local number_key = KEYS[7 + nlim + call]
  local code, wait = cap_refusal(), -1
  if code == nil and redis.call('EXISTS', number_key) == 1 then code = 'number_busy' end
  if code == nil then code, wait = rate_refusal() end
  if code == nil then
    admit(lease_id, phone, number_key)
    answer[#answer + 1] = 'ok'
    answer[#answer + 1] = expiry
  else
    answer[#answer + 1] = code
    answer[#answer + 1] = wait
  end
end

if admitted > 0 then
  redis.call('SADD', KEYS[6], tenant_id)
  redis.call('SADD', KEYS[7], campaign_id)
  for _, limiter in ipairs(limiters) do
    -- Once the TAT has passed, the limiter is as if new: let the key go then.
    local ttl_ms = math.ceil((limiter.tat - now) / 1000) + 1
    redis.call('SET', limiter.key, string.format('%.17g', limiter.tat), 'PX', ttl_ms)
  end
end
return answer

-- Put back leases the store says are live (its live attempts), with their own expiry.
-- Leases already live, already expired, or released a moment ago (tombstoned) are skipped;
-- a number lock held by another lease is left to its holder.
--
-- Mode "rebuild" (the state was lost: no epoch): only the holder of the rebuild lock writes;
-- the first chunk takes the lock, later chunks refresh it, and the last one ("commit") sets
-- the epoch and frees the lock, so acquires start again only once everything is back.
-- Mode "restore" (the periodic pass): only while the epoch exists.
--
-- KEYS: 1 epoch, 2 rebuild lock, 3 global cap, 4 lease meta, 5 tombstones, 6 tenant registry,
--       7 campaign registry, then per lease: tenant cap, campaign cap, number key.
-- ARGV: 1 mode, 2 token, 3 lock lifetime (ms), 4 commit (1/0), then per lease: id, tenant id,
--       campaign id, phone, expiry (us).
-- Answer: how many leases were added; -1 when the mode does not apply (rebuild: the state is
--         already good; restore: it is not), -2 when another process holds the rebuild lock.

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local mode, token = ARGV[1], ARGV[2]
local ready = redis.call('EXISTS', KEYS[1]) == 1

if mode == 'rebuild' then
  if ready then return -1 end
  local holder = redis.call('GET', KEYS[2])
  if holder and holder ~= token then return -2 end
  redis.call('SET', KEYS[2], token, 'PX', tonumber(ARGV[3]))
elseif not ready then
  return -1
end

local added = 0
for i = 0, (#ARGV - 4) / 5 - 1 do
  local lease_id, tenant_id, campaign_id = ARGV[5 + 5 * i], ARGV[6 + 5 * i], ARGV[7 + 5 * i]
  local phone, expiry = ARGV[8 + 5 * i], tonumber(ARGV[9 + 5 * i])
  local tenant_key, campaign_key, number_key = KEYS[8 + 3 * i], KEYS[9 + 3 * i], KEYS[10 + 3 * i]
  local held_until = tonumber(redis.call('ZSCORE', KEYS[3], lease_id) or 0)
  local fresh = expiry > now and held_until <= now
    and not redis.call('ZSCORE', KEYS[5], lease_id)
  if fresh then
    redis.call('ZADD', KEYS[3], expiry, lease_id)
    redis.call('ZADD', tenant_key, expiry, lease_id)
    redis.call('ZADD', campaign_key, expiry, lease_id)
    redis.call('SET', number_key, lease_id, 'PXAT', math.ceil(expiry / 1000), 'NX')
    redis.call('HSET', KEYS[4], lease_id, tenant_id .. '\t' .. campaign_id .. '\t' .. phone
      .. '\t' .. string.format('%.0f', now))
    redis.call('SADD', KEYS[6], tenant_id)
    redis.call('SADD', KEYS[7], campaign_id)
    added = added + 1
  end
end

if mode == 'rebuild' and ARGV[4] == '1' then
  redis.call('SET', KEYS[1], token)
  redis.call('DEL', KEYS[2])
end
return added

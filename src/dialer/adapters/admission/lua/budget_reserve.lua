-- Reserve the worst case of calls on their budget accounts: each call on all of its accounts
-- or on none. First, reservations past their expiry are counted as spent at their worst case.
-- Time is the server's (TIME), in microseconds.
--
-- KEYS: 1 held (hash: id -> "amount\tkey\tkey..."), 2 expiries (sorted set), then the accounts
--       (hashes: spent, reserved) the calls name.
-- ARGV: 1 account key prefix, 2 account count A, then per account: limit, refusal code; then
--       per call: id, amount, ttl (us), account count k, then k account positions (1-based).
-- Answer: per call: "ok", or the refusing code, or "unknown" followed by the positions of the
--         accounts not open, as one string "unknown:1,3".

local SWEEP_AT_MOST = 1000
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local prefix = ARGV[1]

local function settle_worst(id)
  local record = redis.call('HGET', KEYS[1], id)
  if not record then return end
  local fields = {}
  for part in string.gmatch(record, '[^\t]+') do fields[#fields + 1] = part end
  local amount = tonumber(fields[1])
  for i = 2, #fields do
    local key = prefix .. fields[i]
    if redis.call('EXISTS', key) == 1 then
      redis.call('HINCRBY', key, 'reserved', -amount)
      redis.call('HINCRBY', key, 'spent', amount)
    end
  end
  redis.call('HDEL', KEYS[1], id)
end

local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, SWEEP_AT_MOST)
for _, id in ipairs(expired) do
  settle_worst(id)
  redis.call('ZREM', KEYS[2], id)
end

local naccounts = tonumber(ARGV[2])
local accounts = {}
for i = 1, naccounts do
  local at = 3 + 2 * (i - 1)
  accounts[i] = {key = KEYS[2 + i], name = string.sub(KEYS[2 + i], #prefix + 1),
                 limit = tonumber(ARGV[at]), code = ARGV[at + 1]}
end

local answer = {}
local at = 3 + 2 * naccounts
while at <= #ARGV do
  local id, amount, ttl, k = ARGV[at], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  local mine = {}
  for j = 1, k do mine[j] = accounts[tonumber(ARGV[at + 3 + j])] end
  at = at + 4 + k
  local missing = {}
  for j, account in ipairs(mine) do
    if redis.call('EXISTS', account.key) == 0 then missing[#missing + 1] = tostring(j) end
  end
  local verdict = nil
  if #missing > 0 then
    verdict = 'unknown:' .. table.concat(missing, ',')
  else
    for _, account in ipairs(mine) do
      local values = redis.call('HMGET', account.key, 'spent', 'reserved')
      if tonumber(values[1]) + tonumber(values[2]) + amount > account.limit then
        verdict = account.code
        break
      end
    end
  end
  if verdict == nil then
    local record = tostring(amount)
    for _, account in ipairs(mine) do
      redis.call('HINCRBY', account.key, 'reserved', amount)
      record = record .. '\t' .. account.name
    end
    redis.call('HSET', KEYS[1], id, record)
    redis.call('ZADD', KEYS[2], now + ttl, id)
    verdict = 'ok'
  end
  answer[#answer + 1] = verdict
end
return answer

-- How many calls of one campaign the caps and rates would admit right now, ignoring number
-- locks: the dispatcher claims no more leads than this. Zero while the state is not known-good.
--
-- KEYS: 1 epoch, 2 global cap, 3 tenant cap, 4 campaign cap, then one key per rate limiter.
-- ARGV: 1 global max, 2 tenant max (-1: none), 3 campaign max, 4 limiter count L, then per
--       limiter: refusal code, interval (us), tolerance (us).

local EPSILON = 0.001

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local live = string.format('(%.0f', now)

local function held(key) return redis.call('ZCOUNT', key, live, '+inf') end

local room = math.min(tonumber(ARGV[1]) - held(KEYS[2]), tonumber(ARGV[3]) - held(KEYS[4]))
local tenant_max = tonumber(ARGV[2])
if tenant_max >= 0 then room = math.min(room, tenant_max - held(KEYS[3])) end

for i = 1, tonumber(ARGV[4]) do
  local at = 5 + 3 * (i - 1)
  local interval, tolerance = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local tat = tonumber(redis.call('GET', KEYS[4 + i]) or now)
  local slack = tolerance - (math.max(tat, now) - now)
  local capacity = 0
  if slack >= -EPSILON then capacity = math.floor(slack / interval + 1e-9) + 1 end
  room = math.min(room, capacity)
end
return math.max(0, room)

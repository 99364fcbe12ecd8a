-- The provider guard's shared state, read and advanced to now: loaded in front of every
-- guard script (room, started, try_start, abandon, record), which then decides, calls save()
-- and returns answer(result). The same math as domain/breaker.py and domain/aimd.py.
-- Time is the server's (TIME), in seconds, so every process shares one clock.
--
-- KEYS: 1 breaker hash (state, opened_at, times_opened, probes_started, probe_successes),
--       2 window hash (c<second> calls, f<second> failures: one-second buckets),
--       3 pacing hash (rate, tokens, stamp, last_decrease, last_increase, decreases).
-- ARGV: 1 failure_ratio, 2 window_seconds, 3 min_calls, 4 open_seconds, 5 probes,
--       6 ceiling, 7 floor, 8 decrease, 9 step, 10 cooldown_seconds,
--       11 how long idle state is kept (ms), 12 the operation's own argument.
-- Answer: {result, state, opened_at, times_opened, calls, failures, rate, decreases}; the
--         floats as strings (Redis would truncate Lua numbers to integers).

local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local P = {
  ratio = tonumber(ARGV[1]), window = tonumber(ARGV[2]), min_calls = tonumber(ARGV[3]),
  open = tonumber(ARGV[4]), probes = tonumber(ARGV[5]), ceiling = tonumber(ARGV[6]),
  floor = tonumber(ARGV[7]), decrease = tonumber(ARGV[8]), step = tonumber(ARGV[9]),
  cooldown = tonumber(ARGV[10]), idle_ms = tonumber(ARGV[11]),
}
local NEVER = -1e18

local function fmt(x)
  return string.format('%.17g', x)
end

-- the breaker, open -> half-open once open_seconds have passed
local b = redis.call('HMGET', KEYS[1], 'state', 'opened_at', 'times_opened', 'probes_started',
  'probe_successes')
local state = b[1] or 'closed'
local opened_at = tonumber(b[2])
local times_opened = tonumber(b[3]) or 0
local probes_started = tonumber(b[4]) or 0
local probe_successes = tonumber(b[5]) or 0
if state == 'open' and opened_at and now >= opened_at + P.open then
  state, probes_started, probe_successes = 'half_open', 0, 0
end

-- the sliding window: buckets older than window_seconds are dropped
local oldest = math.floor(now) - math.floor(P.window) + 1
local calls, failures = 0, 0
local stale = {}
local fields = redis.call('HGETALL', KEYS[2])
for i = 1, #fields, 2 do
  local second = tonumber(string.sub(fields[i], 2))
  if second < oldest then
    stale[#stale + 1] = fields[i]
  elseif string.sub(fields[i], 1, 1) == 'c' then
    calls = calls + tonumber(fields[i + 1])
  else
    failures = failures + tonumber(fields[i + 1])
  end
end
if #stale > 0 then
  redis.call('HDEL', KEYS[2], unpack(stale))
end

-- the pacing: a token bucket refilled at the current rate, holding one second of starts
local p = redis.call('HMGET', KEYS[3], 'rate', 'tokens', 'stamp', 'last_decrease',
  'last_increase', 'decreases')
local rate = tonumber(p[1]) or P.ceiling
local function capacity()
  return math.max(1, rate)
end
local tokens = tonumber(p[2]) or capacity()
local stamp = tonumber(p[3]) or now
local last_decrease = tonumber(p[4]) or NEVER
local last_increase = tonumber(p[5]) or NEVER
local decreases = tonumber(p[6]) or 0
if now > stamp then
  tokens = math.min(capacity(), tokens + (now - stamp) * rate)
  stamp = now
end

local function reset_window()
  redis.call('DEL', KEYS[2])
  calls, failures = 0, 0
end

local function open_breaker()
  state, opened_at, times_opened = 'open', now, times_opened + 1
  reset_window()
end

local function close_breaker()
  state, opened_at = 'closed', nil
  reset_window()
end

local function save()
  redis.call('HSET', KEYS[1], 'state', state, 'times_opened', times_opened,
    'probes_started', probes_started, 'probe_successes', probe_successes)
  if opened_at then
    redis.call('HSET', KEYS[1], 'opened_at', fmt(opened_at))
  else
    redis.call('HDEL', KEYS[1], 'opened_at')
  end
  redis.call('HSET', KEYS[3], 'rate', fmt(rate), 'tokens', fmt(tokens), 'stamp', fmt(stamp),
    'last_decrease', fmt(last_decrease), 'last_increase', fmt(last_increase),
    'decreases', decreases)
  for i = 1, 3 do
    redis.call('PEXPIRE', KEYS[i], P.idle_ms)
  end
end

local function answer(result)
  local shown_calls, shown_failures = calls, failures
  if state == 'half_open' then
    shown_calls, shown_failures = probe_successes, 0
  end
  return {result, state, opened_at and fmt(opened_at) or '', times_opened, shown_calls,
    shown_failures, fmt(rate), decreases}
end

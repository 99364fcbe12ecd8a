-- Reserve the next send slot of one call on every rate limiter of its scope at once: the
-- first instant every limiter allows, t = max(now, max(TAT - tolerance)); then each TAT
-- becomes max(TAT, t) + interval. The state is the send keys' own, apart from admission's:
-- admission bounds how many calls start, this spaces the sends as they reach the provider.
-- Time is the server's (TIME), in microseconds, so every worker shares one clock.
--
-- KEYS: one send key per rate limiter.
-- ARGV: 1 the longest wait allowed (us), then per limiter: interval (us), tolerance (us).
-- Answer: {reserved (1 or 0), the slot's instant (us), the wait until then (us)}, rounded up.
--         A wait above the longest allowed reserves nothing.

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local max_wait = tonumber(ARGV[1])

local tats, at = {}, now
for i = 1, #KEYS do
  tats[i] = tonumber(redis.call('GET', KEYS[i]) or now)
  at = math.max(at, tats[i] - tonumber(ARGV[2 * i + 1]))
end

local wait = math.ceil(at - now)
if wait > max_wait then
  return {0, math.ceil(at), wait}
end
for i = 1, #KEYS do
  local tat = math.max(tats[i], at) + tonumber(ARGV[2 * i])
  -- Once the TAT has passed, the limiter is as if new: let the key go then.
  local ttl_ms = math.ceil((tat - now) / 1000) + 1
  redis.call('SET', KEYS[i], string.format('%.17g', tat), 'PX', ttl_ms)
end
return {1, math.ceil(at), wait}

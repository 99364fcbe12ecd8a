-- The outcome of one sent create, ARGV[12]: accepted, rejected, throttled or failed.
local outcome = ARGV[12]

if outcome == 'throttled' and now - last_decrease >= P.cooldown then
  rate = math.max(P.floor, rate * P.decrease)
  tokens = math.min(tokens, capacity())
  last_decrease, last_increase = now, now
  decreases = decreases + 1
end

local failed = outcome == 'failed'
if state == 'closed' then
  local second = math.floor(now)
  redis.call('HINCRBY', KEYS[2], 'c' .. second, 1)
  calls = calls + 1
  if failed then
    redis.call('HINCRBY', KEYS[2], 'f' .. second, 1)
    failures = failures + 1
  end
  if calls >= P.min_calls and failures >= P.ratio * calls then
    open_breaker()
  end
elseif state == 'half_open' then
  if failed then
    open_breaker()
  else
    probe_successes = probe_successes + 1
    if probe_successes >= P.probes then
      close_breaker()
    end
  end
end
-- open: late results of creates sent before it opened change nothing

if outcome == 'accepted' and rate < P.ceiling and now - last_increase >= 1 then
  rate = math.min(P.ceiling, rate + P.step)
  last_increase = now
end
save()
return answer(0)

-- How many calls may start now: the pacing's whole tokens, and while half-open no more
-- than the probes not yet started; none while open.
local allowance = math.floor(tokens + 1e-9)
local room = allowance
if state == 'open' then
  room = 0
elseif state == 'half_open' then
  room = math.min(allowance, math.max(0, P.probes - probes_started))
end
save()
return answer(room)

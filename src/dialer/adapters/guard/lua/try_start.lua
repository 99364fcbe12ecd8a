-- Permission for one create (1) or not (0): always while closed, one probe while half-open
-- (the probes are shared: every process together sends at most ``probes``).
local allowed = 0
if state == 'closed' then
  allowed = 1
elseif state == 'half_open' and probes_started < P.probes then
  probes_started = probes_started + 1
  allowed = 1
end
save()
return answer(allowed)

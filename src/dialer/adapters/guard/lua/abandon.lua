-- A create permitted by try_start was never sent: its probe is free again.
if state == 'half_open' and probes_started > 0 then
  probes_started = probes_started - 1
end
save()
return answer(0)

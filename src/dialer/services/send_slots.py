"""Keeping a send slot: sleeping until it, and giving it up when woken too late.

A send that leaves its slot late (an event loop held up, a slow commit) reaches the provider
within less than an interval of the next send, which is on time; a few of those in one second
pass the rate there. So a send woken more than LATE_FOR_SLOT after its slot takes a later one
instead: what leaves stays spaced at the rate. Calls and messages both keep their slots so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dialer import metrics
from dialer.ports import Scope
from dialer.services.context import Services

LATE_FOR_SLOT = 0.04  # seconds of real time
LATE_SLOT_TRIES = 3  # slots missed in a row before the send is put back for later


async def keep_slot(
    services: Services, scope: Scope, send_at: datetime, max_wait: float
) -> float | None:
    """Sleep until ``send_at``, the send's slot, then None: time to send. When woken too late,
    a later slot is taken (within ``max_wait``) and waited for; after LATE_SLOT_TRIES misses,
    or with no slot within ``max_wait``, the seconds after which the caller should put the
    send back instead."""
    clock = services.clock
    for _ in range(LATE_SLOT_TRIES):
        await clock.sleep(max(0.0, (send_at - clock.now()).total_seconds()))
        if _real_seconds(services, clock.now() - send_at) <= LATE_FOR_SLOT:
            return None
        metrics.send_slots_missed.labels(scope.channel).inc()
        slot = await services.admission.reserve_send(scope, max_wait)
        if not slot.reserved:
            return slot.wait
        send_at = clock.now() + timedelta(seconds=slot.wait)
    return max_wait


def _real_seconds(services: Services, span: timedelta) -> float:
    """A span of the clock in real seconds: a late wake-up is the event loop's, in real time,
    whatever the speed of a scaled clock (demos and tests run at 60 times or more)."""
    return span.total_seconds() / float(getattr(services.clock, "speed", 1.0))

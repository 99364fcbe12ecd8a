"""The reconciler: keeps admission state equal to the store's truth, one ``run_once()`` a time.

The store's live attempts are the truth about which calls hold capacity (each attempt keeps
its lease id and expiry). Admission state can drift from it in two ways:

* Redis lost its data (a restart without persistence, a failover to an empty replica). The
  backend then says it ``needs_rebuild()`` and admits nothing; the reconciler puts back every
  live attempt's lease and only then marks the state good. Any number of reconcilers may race
  to do it: one rebuilds, the others find nothing left to do.
* Releases were lost (a crash between the store commit and the release), or a failover lost
  the latest writes. The periodic pass drops leases whose attempt is no longer live (only those
  held for longer than ``grace``, so a lease whose attempt is being recorded right now is not
  touched) and restores the leases of live attempts that admission is missing.

Run it once at start, before the first dispatch, then every few seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dialer.domain.model import CallAttempt
from dialer.ports import Lease
from dialer.services.context import Services

log = logging.getLogger(__name__)

# A lease is pruned only when held this long without a live attempt: the dispatcher records
# an attempt within a second or two of taking its lease.
PRUNE_GRACE_SECONDS = 120.0


@dataclass(frozen=True)
class ReconcileReport:
    rebuilt: bool = False  # this pass rebuilt the admission state from the store
    waiting: bool = False  # the state needs a rebuild that another process is doing
    restored: int = 0  # leases put back (a rebuild: the live attempts handed over)
    pruned: int = 0  # leases dropped, their attempt having ended


class Reconciler:
    def __init__(self, services: Services, grace: float = PRUNE_GRACE_SECONDS) -> None:
        self.services = services
        self.grace = grace

    async def run_once(self) -> ReconcileReport:
        admission = self.services.admission
        if await admission.needs_rebuild():
            return await self._rebuild()
        leases = await self._live_leases()
        pruned = await admission.prune({lease.id for lease in leases}, self.grace)
        restored = await admission.restore(leases)
        if pruned or restored:
            log.warning(
                "admission drifted from the store: %d leases dropped, %d restored",
                pruned,
                restored,
            )
        return ReconcileReport(restored=restored, pruned=pruned)

    async def _rebuild(self) -> ReconcileReport:
        # Read the store only now: no lease is granted while a rebuild is needed, so this
        # snapshot holds every live call (but one whose lease was granted just before the loss
        # and whose attempt commits just after this read: the next periodic pass restores it).
        leases = await self._live_leases()
        if not await self.services.admission.rebuild(leases):
            return ReconcileReport(waiting=await self.services.admission.needs_rebuild())
        # Every process starts with a rebuild; it is news only when calls were in flight.
        level = logging.WARNING if leases else logging.INFO
        log.log(level, "admission state rebuilt from %d live attempts", len(leases))
        return ReconcileReport(rebuilt=True, restored=len(leases))

    async def _live_leases(self) -> list[Lease]:
        async with self.services.store.unit() as uow:
            attempts = await uow.attempts.live()
        return [lease for lease in map(_lease_of, attempts) if lease is not None]


def _lease_of(attempt: CallAttempt) -> Lease | None:
    if not attempt.lease_id or attempt.lease_expires_at is None:
        return None
    return Lease(
        attempt.lease_id,
        attempt.tenant_id,
        attempt.campaign_id,
        attempt.phone,
        attempt.lease_expires_at.timestamp(),
    )

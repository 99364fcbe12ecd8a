"""Housekeeping, run every few seconds (by beat, on a worker): settles what a crash or a lost
message left behind sooner than lease expiry would, without ever guessing.

* **Unsent attempts.** An attempt recorded but never handed over (its dispatcher died between
  the commit and the broker; its task was lost with a broker without persistence) is
  withdrawn after ``unsent_grace`` seconds: void, lease released, lead due again with its
  attempts unspent. Withdrawing takes the sent marker first, so a task that turns up later
  sends nothing.
* **Quiet calls.** A call without news for ``quiet`` seconds may have lost its callbacks: the
  provider is asked, and a call it reports ended is settled now (a call it knows but we had no
  id for is adopted). A call the provider does not know is left alone: it may still be on its
  way, and only the reaper, after the lease, may conclude.
* **Heartbeats** of processes silent for longer than the retention are deleted.
* **Provider prices.** Calls that ended a few minutes ago are given the provider's own price,
  once it has one, beside Dialer's cost (``services.provider_prices``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from dialer.domain.model import CallAttempt
from dialer.errors import DialerError
from dialer.ports import ProviderEvent
from dialer.services.batches import job_of
from dialer.services.calls import withdraw
from dialer.services.context import Services
from dialer.services.heartbeat import prune_heartbeats
from dialer.services.provider_events import apply_event
from dialer.services.provider_lookup import ENDING_PROGRESS, ask_provider
from dialer.services.provider_prices import PricePolicy, fetch_provider_prices

log = logging.getLogger(__name__)

UNSENT_CAUSE = "not sent: never handed to a worker"


@dataclass(frozen=True)
class HousekeepingPolicy:
    unsent_grace: float = 60.0
    quiet: float = 180.0
    heartbeat_retention: float = 86_400.0
    batch: int = 200  # attempts looked at per pass, of each kind
    prices: PricePolicy = field(default_factory=PricePolicy)


@dataclass(frozen=True)
class HousekeepingReport:
    withdrawn: int = 0
    resolved: int = 0
    pruned: int = 0
    priced: int = 0


async def housekeeping(services: Services, policy: HousekeepingPolicy) -> HousekeepingReport:
    return HousekeepingReport(
        withdrawn=await withdraw_unsent(services, policy.unsent_grace, policy.batch),
        resolved=await resolve_quiet_calls(services, policy.quiet, policy.batch),
        pruned=await prune_heartbeats(services.store, policy.heartbeat_retention),
        priced=(await fetch_provider_prices(services, policy.batch, policy.prices)).priced,
    )


async def withdraw_unsent(services: Services, grace: float, limit: int) -> int:
    cutoff = services.clock.now() - timedelta(seconds=grace)
    async with services.store.unit() as uow:
        stranded = await uow.attempts.unsent(cutoff, limit)
    withdrawn = 0
    for attempt in stranded:
        withdrawn += await withdraw(services, job_of(attempt), UNSENT_CAUSE)
    if withdrawn:
        log.warning("%d attempts never handed to a worker were withdrawn", withdrawn)
    return withdrawn


async def resolve_quiet_calls(services: Services, quiet: float, limit: int) -> int:
    """Settle calls without news for ``quiet`` seconds that the provider says have ended.

    Progress renews a lease to ``now + lease_ttl``, so a call quiet for ``quiet`` seconds is
    one whose lease ends within ``lease_ttl - quiet``: the reaper's query, shifted."""
    now = services.clock.now()
    horizon = now + timedelta(seconds=services.limits.lease_ttl - quiet)
    async with services.store.unit() as uow:
        quiet_ones = await uow.attempts.expired(horizon, limit)
    resolved = 0
    for attempt in quiet_ones:
        if attempt.lease_expires_at is None or attempt.lease_expires_at < now:
            continue  # past its lease: the reaper's to settle
        resolved += await settle_from_provider(services, attempt)
    if resolved:
        log.warning("%d calls without news were settled from the provider", resolved)
    return resolved


async def settle_from_provider(services: Services, attempt: CallAttempt) -> int:
    """1 when the provider reports the call ended (or names a call we had no id for) and the
    attempt was moved by it; a call still live, or unknown to the provider, is left alone."""
    event = await settlement(services, attempt)
    return 0 if event is None else await settle_with(services, attempt, event)


async def settlement(services: Services, attempt: CallAttempt) -> ProviderEvent | None:
    """The provider's word that settles the attempt: its call's ending, or a call we had no
    id for; None for a call still live, one the provider does not know, or no answer."""
    try:
        event = await ask_provider(services, attempt)
    except DialerError as exc:
        log.info("attempt %s: could not be looked up at the provider (%s)", attempt.id, exc)
        return None
    adopt = event is not None and attempt.provider_call_id is None
    if event is None or not (adopt or event.progress in ENDING_PROGRESS):
        return None
    return event


async def settle_with(services: Services, attempt: CallAttempt, event: ProviderEvent) -> int:
    """1 when the provider's word moved the attempt; 0 when it had moved already."""
    try:
        result = await apply_event(services, attempt.id, event)
    except DialerError as exc:
        log.info("attempt %s: could not be settled from the provider (%s)", attempt.id, exc)
        return 0
    return int(result.effect not in {"ignored", "duplicate"})

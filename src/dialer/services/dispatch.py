"""The pacing loop, one ``run_once()`` at a time.

Per running campaign, highest priority first: ask admission how many calls it may start, claim
that many due leads in the time zones whose calling window is open now, drop numbers on a
do-not-call list, admit each call (all-or-nothing), apply the number policy (frequency cap and
cool-down), record the attempts in the claim's transaction, and hand the batch to the executor.
Claiming filters on the *set* of zone keys open now, so the query stays index-friendly however
many leads there are.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from dialer.domain.budgets import Budget
from dialer.domain.caller_id import choose_caller_id
from dialer.domain.model import CallAttempt, Campaign, Lead, ScopeLimits
from dialer.domain.phone import zones_of_key
from dialer.domain.safety import NumberHistory, NumberPolicy, blocked_until
from dialer.domain.statuses import DUE_LEAD, CampaignStatus, LeadStatus, lead_moves
from dialer.errors import Conflict
from dialer.observability import logs, tracing
from dialer.ports import (
    AdmissionResult,
    Deferral,
    Executor,
    Limit,
    NewAttempt,
    Scope,
    UnitOfWork,
)
from dialer.services.budgets import lease_id, settle_quietly
from dialer.services.context import Services
from dialer.services.dispatch_budgets import BudgetStep, hold_budgets, pause_for_budget
from dialer.services.dispatch_metrics import DispatchMetrics
from dialer.services.dispatch_tracing import dispatch_span, end_dispatch_spans
from dialer.services.message_dispatch import MessageSteps
from dialer.services.originations import origination
from dialer.services.provider_guard import HealthPublisher, ProviderGuard
from dialer.services.safety import policy_for
from dialer.services.tenants import limits_from

log = logging.getLogger(__name__)

NUMBER_BUSY_DELAY = timedelta(seconds=60)  # the number is in another call: try after it
REFRESH_SECONDS = 2.0  # how often (real time) zone sets and tenant policies are re-read
DO_NOT_CALL = "do_not_call"
NO_WINDOW = "no calling window"  # the contact's quiet hours leave the window never open
QUIET_HOURS = "quiet_hours"
NUMBER_POLICY = "number_policy"
NUMBER_LOCK = "number_lock"  # the number was in another call (a lead's waiting reason)
PROVIDER_OPEN = "provider_breaker_open"
PROVIDER_PACING = "provider_pacing"
SENDERS_BEHIND = "senders_behind"  # backpressure: as many calls unsent as allowed


@dataclass
class TickReport:
    originated: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # by limit or rule
    completed_campaigns: list[int] = field(default_factory=list)

    def count(self, reason: str, n: int = 1) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + n


T = TypeVar("T")


@dataclass
class _Cached(Generic[T]):
    value: T
    read_at: float

    @property
    def stale(self) -> bool:
        return time.monotonic() - self.read_at > REFRESH_SECONDS


@dataclass
class _Batch:
    """One claim's leads and what became of each."""

    campaign: Campaign
    leads: list[Lead]
    results: list[AdmissionResult]
    deferred: list[Deferral] = field(default_factory=list)

    def leases(self) -> list[AdmissionResult]:
        return [r for r in self.results if r.lease is not None]

    def admitted(self) -> list[Lead]:
        return [lead for lead, r in zip(self.leads, self.results, strict=True) if r.lease]


class Dispatcher:
    def __init__(
        self,
        services: Services,
        executor: Executor,
        batch_size: int = 200,
        guard: ProviderGuard | None = None,
        max_unsent: int | None = None,
    ) -> None:
        self.services = services
        self.executor = executor
        self.batch_size = batch_size
        self.max_unsent = max_unsent  # None: no backpressure
        self._senders_behind = False  # this tick found the unsent calls at their limit
        self.guard = guard  # breaker and adaptive pacing of the provider
        self._provider_room: int | None = None
        self._health = HealthPublisher(guard, services.store) if guard else None
        self._zones: dict[int, _Cached[set[str]]] = {}
        self._policies: dict[int, _Cached[NumberPolicy]] = {}
        self._tenants: dict[int, _Cached[ScopeLimits]] = {}
        self._ticks = 0
        self._metrics = DispatchMetrics()  # refusals and dispatch lag
        self._messages = MessageSteps(services, guard)

    async def run_once(self) -> TickReport:
        report = TickReport()
        async with self.services.store.unit() as uow:
            running = await uow.campaigns.in_status([CampaignStatus.RUNNING])  # priority first
        self._ticks += 1
        self._senders_behind = False
        self._metrics.saw_running(running, self.services.clock.now())
        await self._messages.run_once(running)
        if not await self._open_provider_gate(report):
            await self._messages.divert(running, self._open_zone_keys, self.batch_size)
            await self._complete_finished(running, report)
            return report
        for _, group in itertools.groupby(running, key=lambda c: c.settings.priority):
            await self._dispatch_group(list(group), report)
        return report

    async def wait_messages(self) -> None:
        """Let the message sends in flight finish: a dispatcher stopping calls this before it
        closes its providers' clients (a send cut off there would be given up, never made)."""
        await self._messages.wait_sent()

    async def _dispatch_group(self, group: list[Campaign], report: TickReport) -> None:
        """Campaigns of one priority share the free capacity by weight. Each gets a quantum
        of what the caps would admit now, in proportion to its weight; the campaign served
        first rotates every tick, so the rounding favours no one over time. What a campaign
        leaves unused (no due lead: say, its calls are over and its message steps go on)
        goes to those that used all of theirs, in a second round."""
        now = self.services.clock.now()
        rooms = {}
        for campaign in group:
            if campaign.settings.accepts_calls_at(now):
                scope = await self._scope(campaign)
                rooms[campaign.id] = await self.services.admission.headroom(scope)
            else:
                await self._end_if_over(campaign, now, report)
        shared = max(rooms.values(), default=0)
        if shared == 0:
            return
        active = [c for c in group if rooms.get(c.id)]
        total = sum(c.settings.weight for c in active)
        start = self._ticks % len(active)
        left, hungry = shared, []
        for campaign in active[start:] + active[:start]:
            quantum = min(max(1, shared * campaign.settings.weight // total), rooms[campaign.id])
            used = await self._dispatch_campaign(campaign, quantum, report)
            left -= used
            if used == quantum < rooms[campaign.id]:
                hungry.append(campaign)
        for campaign in hungry:
            if left <= 0:
                break
            left -= await self._dispatch_campaign(campaign, left, report)

    async def _dispatch_campaign(self, campaign: Campaign, room: int, report: TickReport) -> int:
        with logs.bound(campaign_id=campaign.id):  # on its records
            return await self._dispatch(campaign, room, report)

    async def _dispatch(self, campaign: Campaign, room: int, report: TickReport) -> int:
        now = self.services.clock.now()
        scope = await self._scope(campaign)
        room = min(room, await self.services.admission.headroom(scope))
        if self._provider_room is not None:
            room = min(room, self._provider_room)
        if room == 0:
            return 0
        keys = await self._open_zone_keys(campaign, now)
        async with self.services.store.unit() as uow:
            limit = await self._room_for_unsent(uow, min(room, self.batch_size), report)
            if limit == 0:
                return 0  # nothing claimed: the leads stay due, their attempts unspent
            leads = await self._claim(uow, campaign, keys, now, limit)
            if not leads:
                await self._complete_if_done(uow, campaign, now, report)
                return 0
            leads = await self._drop_do_not_call(uow, campaign, leads, now, report)
            leads = await self._respect_quiet_hours(uow, campaign, leads, now, report)
            marked = self._under_budget(campaign)
            requests = [(lease_id(budgeted=marked), lead.phone) for lead in leads]
            ttl = self.services.limits.lease_ttl
            results = await self.services.admission.acquire_batch(scope, requests, ttl)
            batch = _Batch(campaign, leads, results)
            try:
                await self._apply_number_policy(uow, batch, now, report)
                budget = await self._hold_budgets(uow, batch, now, report)
                attempts = await self._record(uow, batch, now, report)
                await uow.commit()
            except BaseException:
                await settle_quietly(
                    self.services, [(r.lease.id, 0) for r in batch.leases() if r.lease]
                )
                await self._release(batch.leases())
                raise
        if budget.used_up is not None:
            await pause_for_budget(self.services, campaign, budget.used_up)
        self._metrics.dispatched(campaign, batch.admitted(), now)
        await self.executor.submit(
            [origination(self.services, campaign, a, scope) for a in attempts]
        )
        report.originated += len(attempts)
        await self._provider_started(len(attempts))
        return len(attempts)

    async def _room_for_unsent(self, uow: UnitOfWork, wanted: int, report: TickReport) -> int:
        """Backpressure: at most ``max_unsent`` attempts admitted and not yet sent, across the
        deployment, so that past the senders' capacity the excess waits as due leads (cheap,
        and still withdrawable) rather than as admitted calls in the broker, each holding its
        capacity slot while its setup time grows.

        Read before each claim, in its transaction: dispatchers racing each other exceed the
        limit by at most one claim (one batch) each, and an attempt stays counted until a
        worker sets its sent marker or it is withdrawn (housekeeping, after its grace)."""
        if self.max_unsent is None:
            return wanted
        if self._senders_behind:
            return 0  # read at the limit earlier this tick
        unsent = await uow.views.unsent_attempt_count()
        self._metrics.unsent(unsent)
        room = max(0, self.max_unsent - unsent)
        if room == 0:
            self._senders_behind = True
            report.count(SENDERS_BEHIND)
        return min(wanted, room)

    async def _claim(
        self, uow: UnitOfWork, campaign: Campaign, keys: set[str], now: datetime, limit: int
    ) -> list[Lead]:
        """Claim zone by zone, the zones whose window closes soonest first, so that contacts
        about to become uncallable are called while they still can be."""
        window = campaign.settings.window
        closing = {key: window.open_until(now, zones_of_key(key)) or now for key in keys}
        leads: list[Lead] = []
        for key in sorted(keys, key=lambda k: (closing[k], k)):
            if len(leads) >= limit:
                break
            leads += await uow.leads.claim_due(campaign.id, [key], now, limit - len(leads))
        return leads

    async def _drop_do_not_call(
        self,
        uow: UnitOfWork,
        campaign: Campaign,
        leads: list[Lead],
        now: datetime,
        report: TickReport,
    ) -> list[Lead]:
        """Checked at dial time: a number listed after the import is still never dialled."""
        listed = await uow.do_not_call.listed(campaign.tenant_id, [lead.phone for lead in leads])
        if not listed:
            return leads
        skipped = [lead for lead in leads if lead.phone in listed]
        await uow.leads.skip([lead.id for lead in skipped], DO_NOT_CALL, now)
        await self.services.outbox.leads_skipped(uow, campaign, skipped, DO_NOT_CALL, now)
        report.count(DO_NOT_CALL, len(skipped))
        return [lead for lead in leads if lead.phone not in listed]

    async def _respect_quiet_hours(
        self,
        uow: UnitOfWork,
        campaign: Campaign,
        leads: list[Lead],
        now: datetime,
        report: TickReport,
    ) -> list[Lead]:
        """A contact's own quiet hours narrow the campaign's window for that contact alone."""
        ready, deferred, never = [], [], []
        for lead in leads:
            window = lead.window(campaign.settings.window)
            zones = zones_of_key(lead.zone_key)
            if not lead.quiet_hours or window.is_open(now, zones):
                ready.append(lead)
            elif (opens := window.next_open(now, zones)) is not None:
                deferred.append(Deferral(lead.id, lead.status, opens, QUIET_HOURS))
            else:
                never.append(lead)
        await uow.leads.defer(deferred, now)
        await uow.leads.skip([lead.id for lead in never], NO_WINDOW, now)
        await self.services.outbox.leads_skipped(uow, campaign, never, NO_WINDOW, now)
        report.count(QUIET_HOURS, len(deferred) + len(never))
        return ready

    async def _apply_number_policy(
        self, uow: UnitOfWork, batch: _Batch, now: datetime, report: TickReport
    ) -> None:
        """Frequency cap and post-conversation cool-down, across the tenant's campaigns.

        Read after admission on purpose: each admitted number is locked, and the lock is held
        until its call has ended and been recorded, so no other dispatcher can add an attempt
        to the same number between this read and this transaction's commit. That makes the
        cap exact across any number of dispatchers."""
        tenant = batch.campaign.tenant_id
        policy = await self._policy(uow, tenant)
        phones = [lead.phone for lead, r in zip(batch.leads, batch.results, strict=True) if r.lease]
        history = await uow.contacts.number_history(tenant, phones, now - policy.lookback)
        window = batch.campaign.settings.window
        for index, (lead, result) in enumerate(zip(batch.leads, batch.results, strict=True)):
            if result.lease is None:
                continue
            until = blocked_until(policy, history.get(lead.phone, NumberHistory()), now)
            if until is None:
                continue
            await self.services.admission.release(result.lease)
            batch.results[index] = AdmissionResult(False)
            opens = lead.window(window).next_open(until, zones_of_key(lead.zone_key))
            when = opens or until
            batch.deferred.append(Deferral(lead.id, lead.status, when, NUMBER_POLICY))
            report.count(NUMBER_POLICY)
            self._metrics.refused(batch.campaign.id, NUMBER_POLICY)

    def _tenant_budget(self, campaign: Campaign) -> Budget | None:
        tenant = self._tenants.get(campaign.tenant_id)  # read by _scope, just before
        return tenant.value.budget if tenant else None

    def _under_budget(self, campaign: Campaign) -> bool:
        return campaign.settings.budget is not None or self._tenant_budget(campaign) is not None

    async def _hold_budgets(
        self, uow: UnitOfWork, batch: _Batch, now: datetime, report: TickReport
    ) -> BudgetStep:
        budget = self._tenant_budget(batch.campaign)
        step = await hold_budgets(
            self.services, uow, batch.campaign, budget, batch.leads, batch.results, now
        )
        for reason in step.refusals:
            report.count(reason)
            self._metrics.refused(batch.campaign.id, reason)
        batch.deferred += step.deferred
        return step

    async def _record(
        self, uow: UnitOfWork, batch: _Batch, now: datetime, report: TickReport
    ) -> list[CallAttempt]:
        admitted: list[NewAttempt] = []
        spans: list[tracing.Span] = []
        settings = batch.campaign.settings
        for lead, result in zip(batch.leads, batch.results, strict=True):
            if result.lease is not None:
                expires = datetime.fromtimestamp(result.lease.expires_at, now.tzinfo)
                caller_id = choose_caller_id(  # the campaign's caller-ID pool
                    settings.caller_ids,
                    settings.caller_id,
                    lead.phone,
                    lead.id + lead.attempts,
                    local_presence=settings.local_presence,
                )
                lead.move_to(LeadStatus.DIALING)  # the store writes it with the attempt
                span = dispatch_span(batch.campaign, lead)
                spans.append(span)
                admitted.append(
                    NewAttempt(lead, result.lease.id, expires, caller_id, span.traceparent)
                )
            elif result.refused_by is not None:
                report.count(result.refused_by.value)
                self._metrics.refused(batch.campaign.id, result.refused_by.value)
                if result.refused_by is Limit.NUMBER_BUSY:
                    later = now + NUMBER_BUSY_DELAY
                    batch.deferred.append(Deferral(lead.id, lead.status, later, NUMBER_LOCK))
        attempts = await uow.attempts.start(admitted, now)
        end_dispatch_spans(spans, attempts)
        await uow.leads.defer(batch.deferred, now)
        return attempts

    # ---- the provider gate (circuit breaker, adaptive pacing)

    async def _open_provider_gate(self, report: TickReport) -> bool:
        """How many calls the provider may take this tick; False (nothing is claimed, no lead
        spends an attempt) while its breaker is open or its pacing allows none."""
        if self.guard is None or self._health is None:
            return True
        await self._health.maybe_publish()
        self._provider_room = await self.guard.room()
        if self._provider_room > 0:
            return True
        report.count(PROVIDER_OPEN if self.guard.is_open else PROVIDER_PACING)
        return False

    async def _provider_started(self, count: int) -> None:
        if self.guard is not None and self._provider_room is not None:
            self._provider_room = max(0, self._provider_room - count)
            await self.guard.started(count)

    async def _release(self, results: list[AdmissionResult]) -> None:
        for result in results:
            if result.lease is not None:
                await self.services.admission.release(result.lease)

    async def _scope(self, campaign: Campaign) -> Scope:
        """The campaign's limits, with its tenant's own cap and rates (re-read every few s)."""
        cached = self._tenants.get(campaign.tenant_id)
        if cached is None or cached.stale:
            async with self.services.store.unit() as uow:
                values = await uow.tenants.settings(campaign.tenant_id)
            limits = limits_from(values)
            if limits.max_concurrency is None:
                limits = dataclasses.replace(
                    limits, max_concurrency=self.services.limits.tenant_max
                )
            cached = self._tenants[campaign.tenant_id] = _Cached(limits, time.monotonic())
        return self.services.scope(campaign, cached.value)

    async def _policy(self, uow: UnitOfWork, tenant_id: int) -> NumberPolicy:
        cached = self._policies.get(tenant_id)
        if cached is None or cached.stale:
            policy = await policy_for(uow, tenant_id, self.services.limits.number_policy)
            cached = self._policies[tenant_id] = _Cached(policy, time.monotonic())
        return cached.value

    async def _open_zone_keys(self, campaign: Campaign, now: datetime) -> set[str]:
        zones = self._zones.get(campaign.id)
        if zones is None or zones.stale:
            zones = self._zones[campaign.id] = await self._read_zones(campaign, now)
        window = campaign.settings.window
        return {key for key in zones.value if window.is_open(now, zones_of_key(key))}

    async def _read_zones(self, campaign: Campaign, now: datetime) -> _Cached[set[str]]:
        window = campaign.settings.window
        async with self.services.store.unit() as uow:
            keys = await uow.leads.due_zone_keys(campaign.id)
            never = sorted(k for k in keys if window.next_open(now, zones_of_key(k)) is None)
            if never:
                skipped = await uow.leads.skip_due(campaign.id, never, "no calling window", now)
                await uow.commit()
                log.warning(
                    "campaign %s: %d leads skipped, the window never opens in %s",
                    campaign.id,
                    skipped,
                    ", ".join(never),
                )
        return _Cached(keys - set(never), time.monotonic())

    async def _end_if_over(self, campaign: Campaign, now: datetime, report: TickReport) -> None:
        """Past ``end_at`` nothing more is dialled: waiting leads are skipped, and the
        campaign completes once the calls in flight have ended."""
        end = campaign.settings.end_at
        if end is None or now < end:
            return
        async with self.services.store.unit() as uow:
            waiting = lead_moves(DUE_LEAD, LeadStatus.SKIPPED)
            skipped = await uow.leads.move_all(campaign.id, waiting, LeadStatus.SKIPPED, now)
            if skipped:
                log.info("campaign %s ended: %d waiting leads skipped", campaign.id, skipped)
                await uow.commit()
        async with self.services.store.unit() as uow:
            await self._complete_if_done(uow, campaign, now, report)

    async def _complete_finished(self, running: list[Campaign], report: TickReport) -> None:
        """While no call can be placed, a campaign whose every lead has ended (its last
        ones diverted to a message step, say) completes all the same."""
        now = self.services.clock.now()
        for campaign in running:
            async with self.services.store.unit() as uow:
                await self._complete_if_done(uow, campaign, now, report)

    async def _complete_if_done(
        self, uow: UnitOfWork, campaign: Campaign, now: datetime, report: TickReport
    ) -> None:
        if await uow.leads.has_open(campaign.id):
            return
        if campaign.settings.steps and await uow.messages.open_in_campaign(campaign.id):
            return  # message steps still to take or to hear back from
        fresh = await uow.campaigns.get(campaign.id)
        if fresh.status is CampaignStatus.RUNNING:
            fresh.move_to(CampaignStatus.COMPLETED)
            try:
                await uow.campaigns.save_status(fresh, now)
            except Conflict:  # another dispatcher completed (or changed) it first
                return
            await self.services.outbox.campaign_changed(uow, fresh, CampaignStatus.RUNNING, now)
            await uow.commit()
            report.completed_campaigns.append(campaign.id)
            self._zones.pop(campaign.id, None)
            log.info("campaign %s completed", campaign.id)

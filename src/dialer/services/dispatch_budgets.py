"""The dispatcher's budget step: after admission and the number policy, before the attempts
are recorded, each admitted call of a campaign under a budget reserves its worst case
(services.budgets). A call refused gives its admission lease back at once, and:

- while live calls hold the budget, its lead stays due (as under a cap);
- once the day's budget is spent, its lead waits for the budget's next midnight;
- once the total is spent, its lead stays due and the campaign is paused, with the reason;
- when its destination has no price, its lead is skipped (``no_price``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from dialer import metrics
from dialer.domain.budgets import Budget
from dialer.domain.model import Campaign, Lead
from dialer.domain.statuses import CampaignStatus
from dialer.errors import Conflict
from dialer.ports import AdmissionResult, Deferral, UnitOfWork
from dialer.ports.budget import BudgetScope
from dialer.services.budgets import UNPRICED, Budgets, Verdict, exhausted, reserve_calls
from dialer.services.campaigns import move_campaign
from dialer.services.context import Services

log = logging.getLogger(__name__)

BUDGET_DAY = "budget_day"  # a lead's waiting reason: its campaign's (or tenant's) day is spent


@dataclass
class BudgetStep:
    unpriced: list[Lead] = field(default_factory=list)
    deferred: list[Deferral] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # each refusal's limit, for the report
    used_up: BudgetScope | None = None  # a total is spent: the campaign is to be paused


async def hold_budgets(
    services: Services,
    uow: UnitOfWork,
    campaign: Campaign,
    tenant_budget: Budget | None,
    leads: list[Lead],
    results: list[AdmissionResult],
    now: datetime,
) -> BudgetStep:
    """Reserve each admitted call's worst case; undo the admission of those refused."""
    step = BudgetStep()
    budgets = Budgets(campaign.settings.budget, tenant_budget)
    if not budgets.any:
        return step
    admitted = [i for i, result in enumerate(results) if result.lease is not None]
    calls = [(_lease_id(results[i]), leads[i].phone) for i in admitted]
    verdicts = await reserve_calls(services, uow, campaign, budgets, calls, now)
    for index, verdict in zip(admitted, verdicts, strict=True):
        if verdict.reserved:
            continue
        lease = results[index].lease
        assert lease is not None
        await services.admission.release(lease)
        results[index] = AdmissionResult(False)
        await _refused(services, step, budgets, leads[index], verdict, now)
    if step.unpriced:
        await uow.leads.skip([lead.id for lead in step.unpriced], UNPRICED, now)
        await services.outbox.leads_skipped(uow, campaign, step.unpriced, UNPRICED, now)
    return step


async def pause_for_budget(services: Services, campaign: Campaign, scope: BudgetScope) -> None:
    """Pause a campaign whose total budget (or its tenant's) is spent; another dispatcher
    may have paused it first."""
    try:
        await move_campaign(services, campaign.id, CampaignStatus.PAUSED, reason=scope.value)
    except Conflict:
        return
    metrics.budget_pauses.labels(str(campaign.id), scope.value).inc()
    log.warning("campaign %s paused: its %s is spent", campaign.id, scope.value.replace("_", " "))


def _lease_id(result: AdmissionResult) -> str:
    assert result.lease is not None
    return result.lease.id


async def _refused(
    services: Services,
    step: BudgetStep,
    budgets: Budgets,
    lead: Lead,
    verdict: Verdict,
    now: datetime,
) -> None:
    if verdict.refused is None:
        step.unpriced.append(lead)
        step.refusals.append(UNPRICED)
        return
    account = verdict.refused
    step.refusals.append(account.scope.value)
    if not await exhausted(services, account, verdict.worst):
        return  # held by live calls: the lead stays due
    if account.scope.is_daily:
        opens = budgets.refusing(account.scope).next_day(now)
        step.deferred.append(Deferral(lead.id, lead.status, opens, BUDGET_DAY))
    else:
        step.used_up = account.scope

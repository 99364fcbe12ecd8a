"""Budgets hold against the provider's own record: a campaign under a total budget makes
calls until the next one could pass it, then pauses with the reason; whatever the calls
lasted, what they cost by the simulator's durations is within the budget."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

from dialer.campaign_hooks import budget_document
from dialer.domain.budgets import Budget
from dialer.domain.costs import CostChannel, Increment, Price, RateCard
from dialer.domain.statuses import CampaignStatus
from dialer.runner import run_to_end
from dialer.services import costs, tenants
from dialer.services.progress import campaign_progress
from dialer.services.waiting import Reason
from tests.integration.economics.test_call_costs import simulator_calls
from tests.support.engine import Engine, EngineFactory, contacts, lead_rows, settings
from tests.support.polling import until

NYC = Price(
    "1212", per_minute=Decimal("0.02"), increment=Increment(30, 6), connection_fee=Decimal("0.001")
)
CARD = RateCard("twilio", CostChannel.CALL, "USD", (NYC,))
MAX_CALL = 60  # seconds: the worst case of a call is 0.001 + 0.02 = 0.021


async def settled(e: Engine, campaign_id: int) -> bool:
    async with e.store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
        live = [a for a in await uow.attempts.live() if a.campaign_id == campaign_id]
    return campaign.status is CampaignStatus.PAUSED and not live


async def test_a_campaign_stops_within_its_total_budget_and_pauses(engine: EngineFactory) -> None:
    budget = Budget("USD", total=Decimal("0.10"))
    async with engine() as e:
        await costs.add_card(e.store, e.runtime.services.pricing, CARD, e.clock.now())
        campaign = await e.campaign(
            settings(max_concurrency=6, ramp_up=0, max_call_duration=MAX_CALL, budget=budget),
            contacts(60),
        )
        running = asyncio.create_task(run_to_end(e.runtime, campaign.id))
        try:
            await until(lambda: settled(e, campaign.id), 60, "the campaign paused, its calls ended")
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        calls = await simulator_calls(e)
        async with e.store.unit() as uow:
            spent = await uow.costs.spent("USD", campaign_id=campaign.id)
        balance = await e.runtime.services.budgets.balances([f"c:{campaign.id}"])  # type: ignore[union-attr]
    by_provider = sum((NYC.call(int(c["duration"] or 0)) for c in calls), Decimal(0))
    print(f"calls {len(calls)}, spent by the provider's durations {by_provider} of 0.10")
    assert 0 < len(calls) < 60  # it stopped before the list ran out
    assert by_provider <= budget.total
    assert Decimal(spent) / 1_000_000 == by_provider  # the store charged what the provider saw
    # It stopped only when the next call's worst case no longer fitted.
    assert budget.total - by_provider < NYC.call(MAX_CALL)
    assert balance[f"c:{campaign.id}"].reserved == 0


async def test_a_tenant_budget_holds_over_all_its_campaigns(engine: EngineFactory) -> None:
    budget = Budget("USD", total=Decimal("0.10"))
    async with engine() as e:
        services = e.runtime.services
        await costs.add_card(e.store, services.pricing, CARD, e.clock.now())
        people = contacts(60)
        campaigns = [
            await e.campaign(
                settings(name=name, max_concurrency=3, ramp_up=0, max_call_duration=MAX_CALL),
                group,
            )
            for name, group in (("first", people[:30]), ("second", people[30:]))
        ]
        await tenants.save_tenant_budget(e.store, campaigns[0].tenant_id, budget_document(budget))
        running = [asyncio.create_task(run_to_end(e.runtime, c.id)) for c in campaigns]
        try:
            for campaign in campaigns:
                await until(lambda c=campaign: settled(e, c.id), 60, "both campaigns paused")
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        calls = await simulator_calls(e)
    by_provider = sum((NYC.call(int(c["duration"] or 0)) for c in calls), Decimal(0))
    print(f"calls {len(calls)} over two campaigns, spent {by_provider} of the tenant's 0.10")
    assert 0 < len(calls) < 60
    assert by_provider <= budget.total
    assert budget.total - by_provider < NYC.call(MAX_CALL)


async def test_a_spent_day_sends_the_rest_to_the_budgets_next_midnight(
    engine: EngineFactory,
) -> None:
    budget = Budget("USD", per_day=Decimal("0.05"), timezone="America/New_York")
    async with engine() as e:
        await costs.add_card(e.store, e.runtime.services.pricing, CARD, e.clock.now())
        campaign = await e.campaign(
            settings(max_concurrency=3, ramp_up=0, max_call_duration=MAX_CALL, budget=budget),
            contacts(30),
        )
        midnight = budget.next_day(e.clock.now())

        async def waiting_for_midnight() -> bool:
            rows = await lead_rows(e, campaign.id)
            open_rows = [r for r in rows if r["status"] in {"PENDING", "WAITING_RETRY"}]
            async with e.store.unit() as uow:
                live = [a for a in await uow.attempts.live() if a.campaign_id == campaign.id]
            return (
                not live
                and bool(open_rows)
                and all(r["next_attempt_at"] == midnight for r in open_rows)
            )

        running = asyncio.create_task(run_to_end(e.runtime, campaign.id))
        try:
            await until(waiting_for_midnight, 60, "the rest waiting for the next midnight")
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        calls = await simulator_calls(e)
        async with e.store.unit() as uow:
            status = (await uow.campaigns.get(campaign.id)).status
        progress = await campaign_progress(e.store, campaign.id, e.clock.now())
    spent = sum((NYC.call(int(c["duration"] or 0)) for c in calls), Decimal(0))
    print(f"calls {len(calls)} today, spent {spent} of the day's 0.05")
    [wait] = progress.waiting
    assert (wait.reason, wait.until) == (Reason.BUDGET_DAY, midnight)
    assert status is CampaignStatus.RUNNING  # a day's budget waits; it does not pause
    assert 0 < len(calls) < 30
    assert spent <= budget.per_day

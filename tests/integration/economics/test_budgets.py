"""Budgets hold against the provider's own record: a campaign under a total budget makes
calls until the next one could pass it, then pauses with the reason; whatever the calls
lasted, what they cost by the simulator's durations is within the budget."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

from dialer.domain.budgets import Budget
from dialer.domain.costs import CostChannel, Increment, Price, RateCard
from dialer.domain.statuses import CampaignStatus
from dialer.runner import run_to_end
from dialer.services import costs
from tests.integration.economics.test_call_costs import simulator_calls
from tests.support.engine import Engine, EngineFactory, contacts, settings
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

"""A budget never exceeded with many dispatchers: 4 dispatcher processes share one Redis
(admission and the budget ledger) and dial one campaign under a total budget, with calls
live up to the cap. The spend is counted from the provider's side — each call's duration
as the simulator recorded it, priced by the card — and must stay within the budget; the gap
left (budget - spent) is reported, and is less than one call's worst case."""

from __future__ import annotations

import multiprocessing
from decimal import Decimal
from typing import Any

import httpx
import pytest

from dialer.adapters.admission.budget_redis import RedisBudgetLedger
from dialer.adapters.admission.redis import RedisAdmission
from dialer.bootstrap import open_runtime
from dialer.cli.simproc import simulator_process
from dialer.domain.budgets import Budget
from dialer.domain.costs import CostChannel, Increment, Price, RateCard
from dialer.domain.model import CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import CampaignStatus
from dialer.ports import ContactDraft
from dialer.services import costs
from dialer.services.campaigns import create_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.simulator.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from tests.integration.distributed.test_e2e_dispatchers import drained, wait_for
from tests.support.dispatchers import DispatcherJob, run_dispatcher, settings_for
from tests.support.polling import until
from tests.support.redis import REDIS_URL

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DISPATCHERS = 4
CAP = 30
NUMBERS = 600
MAX_CALL = 40  # seconds: a call's worst case is 0.001 + 0.02 * 40 / 60 = 0.014333
BUDGET = Decimal("0.60")
PRICE = Price(
    "1212", per_minute=Decimal("0.02"), increment=Increment(1, 1), connection_fee=Decimal("0.001")
)
SIM_ARGS = ["--speed", "20", "--cps", "1000", "--seed", "9", "--talk-mean", "20"]


async def provider_calls(sim_url: str) -> list[dict[str, Any]]:
    url = f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls.json"
    auth = (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    async with httpx.AsyncClient(base_url=sim_url) as client:
        found = await client.get(url, params={"PageSize": 1000}, auth=auth)
    return list(found.json()["calls"])


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_four_dispatchers_never_spend_past_the_budget(
    database_url: str, namespace: str
) -> None:
    context = multiprocessing.get_context("spawn")
    stop, queue = context.Event(), context.Queue()
    drafts = [
        ContactDraft(f"+1212555{i:04d}", zone_key(("America/New_York",))) for i in range(NUMBERS)
    ]
    with simulator_process(SIM_ARGS) as sim_url:
        settings = settings_for(database_url, sim_url, CAP)
        async with open_runtime(settings) as runtime:
            services = runtime.services
            await costs.add_card(
                services.store,
                services.pricing,
                RateCard("twilio", CostChannel.CALL, "USD", (PRICE,)),
                services.clock.now(),
            )
            campaign_settings = CampaignSettings(
                "budgeted",
                "+14155550100",
                max_concurrency=CAP,
                retry=RetryPolicy(1),
                ramp_up=0,
                max_call_duration=MAX_CALL,
                budget=Budget("USD", total=BUDGET),
            )
            campaign = await create_campaign(services, "acme", campaign_settings)
            await import_drafts(services, campaign.id, drafts)
            jobs = [
                DispatcherJob(
                    n, database_url, REDIS_URL, namespace, sim_url, CAP, 90.0, stop, queue
                )
                for n in range(DISPATCHERS)
            ]
            processes = [context.Process(target=run_dispatcher, args=(job,)) for job in jobs]
            for process in processes:
                process.start()
            try:
                await wait_for(queue, "ready", processes, 60)
                await start_campaign(services, campaign.id)

                async def paused() -> bool:
                    async with services.store.unit() as uow:
                        found = await uow.campaigns.get(campaign.id)
                    return found.status is CampaignStatus.PAUSED

                await until(paused, 60, "the campaign paused on its budget")
                left = await drained(services, 30)
                stop.set()
                await wait_for(queue, "done", processes, 30)
            finally:
                stop.set()
                for process in processes:
                    process.join(timeout=15)
                    if process.is_alive():
                        process.kill()
                        process.join()
            async with services.store.unit() as uow:
                charged = await uow.costs.spent("USD", campaign_id=campaign.id)
        calls = await provider_calls(sim_url)
        async with httpx.AsyncClient(base_url=sim_url) as client:
            stats = (await client.get("/_sim/stats")).json()
    admission = RedisAdmission.from_url(REDIS_URL, namespace=namespace)
    try:
        ledger = RedisBudgetLedger(admission.client, namespace=namespace)
        balance = (await ledger.balances([f"c:{campaign.id}"]))[f"c:{campaign.id}"]
    finally:
        await admission.aclose()
    spent = sum((PRICE.call(int(c["duration"] or 0)) for c in calls), Decimal(0))
    print(
        f"\n{len(calls)} calls, peak {stats['peak_active']} live; spent by the provider's "
        f"durations {spent} of {BUDGET} (gap {BUDGET - spent}); ledger {balance}"
    )
    assert left == 0
    assert stats["peak_active"] > CAP // 2  # calls did run side by side near the cap
    assert spent <= BUDGET
    assert BUDGET - spent < PRICE.call(MAX_CALL)  # it stopped only once no worst case fitted
    assert Decimal(charged) / 1_000_000 == spent  # the store charged what the provider saw
    assert balance.reserved == 0
    assert balance.spent == charged
    assert all(p.exitcode == 0 for p in processes)

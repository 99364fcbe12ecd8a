"""The provider's own price of each call, read back from the simulator's Call resources once
it has priced them and kept beside Dialer's cost: exactly the simulator's price for every
answered call, nothing before the provider has one (the call is asked again at a later pass),
and the rollup sums both."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal
from typing import Any

import httpx

from dialer.api.app import create_app
from dialer.domain.costs import CostChannel
from dialer.ports.cost_store import NewCharge
from dialer.runner import run_to_end
from dialer.services import costs
from dialer.services.access import KeyScope, create_key
from dialer.services.provider_prices import PricePolicy, PriceReport, fetch_provider_prices
from tests.integration.economics.test_call_costs import CARD, expected, simulator_calls
from tests.support.api import BASE, bearer
from tests.support.clock import T0
from tests.support.engine import Engine, EngineFactory, attempt_rows, contacts, settings, sim_config

PER_MINUTE = Decimal("0.0135")
NOW_ASK = PricePolicy(wait=0)  # every ended call, at once
DELAY = 120.0  # simulated seconds after its end before the simulator prices a call


async def charges_by_call(e: Engine, campaign_id: int) -> dict[str, NewCharge]:
    rows = await attempt_rows(e, campaign_id)
    async with e.store.unit() as uow:
        found = await uow.costs.charges_of(CostChannel.CALL, [int(str(r["id"])) for r in rows])
    return {str(r["provider_call_id"]): found[int(str(r["id"]))] for r in rows}


async def cost_rollup(e: Engine) -> list[dict[str, Any]]:
    _, token = await create_key(e.store, "acme", KeyScope.VIEWER, "costs", T0)
    app = create_app(e.runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as client:
        found = await client.get(
            "/v1/costs", params={"group_by": "campaign"}, headers=bearer(token)
        )
    assert found.status_code == 200, found.text
    return list(found.json()["items"])


def simulator_price(call: dict[str, Any]) -> Decimal:
    """Twilio's way: each started minute of talk; its debit written negative."""
    assert call["price_unit"] == "USD"
    price = -Decimal(call["price"])
    assert price == math.ceil(int(call["duration"]) / 60) * PER_MINUTE
    return price


async def test_the_price_pass_keeps_the_providers_own_price_beside_the_cost(
    engine: EngineFactory,
) -> None:
    # Not priced until the test says the delay has passed: a first pass finds no price yet.
    sim = sim_config(price_per_minute=float(PER_MINUTE), price_delay=1e9)
    async with engine(sim=sim) as e:
        services = e.runtime.services
        await costs.add_card(e.store, services.pricing, CARD, e.clock.now())
        campaign = await e.campaign(settings(max_concurrency=8, ramp_up=0), contacts(24))
        await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
        first = await fetch_provider_prices(services, 500, NOW_ASK)
        before = await charges_by_call(e, campaign.id)

        await e.sim.post("/_sim/config", json={"price_delay": DELAY})
        await e.clock.sleep(DELAY)  # the last call ended before: every call is priced now
        second = await fetch_provider_prices(services, 500, NOW_ASK)
        third = await fetch_provider_prices(services, 500, NOW_ASK)
        after = await charges_by_call(e, campaign.id)
        calls = {call["sid"]: call for call in await simulator_calls(e)}
        rows = await cost_rollup(e)

    answered = {sid for sid, call in calls.items() if int(call["duration"] or 0) > 0}
    assert answered, "the simulator answered none of the calls"
    assert set(after) == set(calls)
    # A call nobody answered costs nothing at once; an answered one waits for its price.
    assert first == PriceReport(priced=len(calls) - len(answered), not_yet=len(answered))
    assert {sid for sid, c in before.items() if c.provider_amount is None} == answered
    assert {c.provider_amount for sid, c in before.items() if sid not in answered} == {0}

    assert second == PriceReport(priced=len(answered))
    assert third == PriceReport()  # nothing left to ask
    for sid, charge in after.items():
        assert charge.provider_amount == simulator_price(calls[sid]), sid
        assert charge.amount == expected(calls[sid]), sid

    ours = sum((expected(call) for call in calls.values()), Decimal(0))
    theirs = sum((simulator_price(call) for call in calls.values()), Decimal(0))
    assert [(r["campaign_id"], r["currency"], r["count"]) for r in rows] == [
        (campaign.id, "USD", len(calls))
    ]
    assert (Decimal(rows[0]["amount"]), Decimal(rows[0]["provider_amount"])) == (ours, theirs)
    assert ours != theirs  # per minute against 30/6 and a connection fee: the difference shows

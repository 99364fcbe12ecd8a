"""Every call that ends is charged by the rate card in force when it was made, from the
duration the provider reported: the simulator's own call records are the reference. Costs
roll up per campaign and day through the API, and show on each call of the call log."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx

from dialer.api.app import create_app
from dialer.domain.costs import CostChannel, Increment, Price, RateCard
from dialer.runner import run_to_end
from dialer.services import costs
from dialer.services.access import KeyScope, create_key
from tests.support.api import BASE, bearer
from tests.support.clock import T0
from tests.support.engine import (
    SID,
    TOKEN,
    Engine,
    EngineFactory,
    attempt_rows,
    contacts,
    settings,
)

NYC = Price(
    "1212",
    per_minute=Decimal("0.0200"),
    increment=Increment(30, 6),
    connection_fee=Decimal("0.0010"),
)
US = Price("1", per_minute=Decimal("0.5000"))  # a shorter prefix: never the one used here
CARD = RateCard("twilio", CostChannel.CALL, "USD", (US, NYC))


async def simulator_calls(e: Engine) -> list[dict[str, Any]]:
    """The calls as the provider recorded them (its REST list of calls)."""
    found = await e.sim.get(
        f"/2010-04-01/Accounts/{SID}/Calls.json", params={"PageSize": 1000}, auth=(SID, TOKEN)
    )
    assert found.status_code == 200
    return list(found.json()["calls"])


def expected(call: dict[str, Any]) -> Decimal:
    return NYC.call(int(call["duration"] or 0))


async def test_each_call_costs_what_its_reported_duration_costs_by_the_card(
    engine: EngineFactory,
) -> None:
    async with engine() as e:
        now = e.clock.now()
        await costs.add_card(e.store, e.runtime.services.pricing, CARD, now)
        campaign = await e.campaign(settings(max_concurrency=8, ramp_up=0), contacts(24))
        await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
        calls = await simulator_calls(e)
        _, token = await create_key(e.store, "acme", KeyScope.VIEWER, "costs", T0)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(create_app(e.runtime)), base_url=BASE
        )
        async with client:
            log = (
                await client.get("/v1/calls", params={"limit": 500}, headers=bearer(token))
            ).json()
            rollup = await client.get(
                "/v1/costs", params={"group_by": ["campaign", "day"]}, headers=bearer(token)
            )
    by_call = {call["sid"]: call for call in calls}
    charged = [item for item in log["items"] if item["provider_call_id"] in by_call]
    assert len(charged) == len(calls) == len(log["items"]) >= 24
    for item in charged:
        assert Decimal(item["cost"]) == expected(by_call[item["provider_call_id"]]), item
        assert item["cost_currency"] == "USD"
    answered = [c for c in calls if int(c["duration"] or 0) > 0]
    assert answered, "the simulator answered none of the calls"
    total = sum((expected(call) for call in calls), Decimal(0))
    assert rollup.status_code == 200, rollup.text
    rows = rollup.json()["items"]
    assert [(r["campaign_id"], r["currency"], r["count"]) for r in rows] == [
        (campaign.id, "USD", len(calls))
    ]
    assert Decimal(rows[0]["amount"]) == total
    assert rows[0]["day"] == now.date().isoformat()


async def test_a_new_card_prices_only_the_calls_made_after_it(engine: EngineFactory) -> None:
    dearer = RateCard("twilio", CostChannel.CALL, "USD", (Price("1212", per_minute=Decimal(1)),))
    async with engine() as e:
        pricing = e.runtime.services.pricing
        await costs.add_card(e.store, pricing, CARD, e.clock.now())
        people = contacts(12)  # different numbers: no one is called twice in a row
        before = await e.campaign(settings(ramp_up=0, name="before"), people[:6])
        await asyncio.wait_for(run_to_end(e.runtime, before.id), 60)
        await costs.add_card(e.store, pricing, dearer, e.clock.now())
        after = await e.campaign(settings(ramp_up=0, name="after"), people[6:])
        await asyncio.wait_for(run_to_end(e.runtime, after.id), 60)
        calls = {call["sid"]: call for call in await simulator_calls(e)}
        rows = await attempt_rows(e, before.id) + await attempt_rows(e, after.id)
        async with e.store.unit() as uow:
            charges = await uow.costs.charges_of(
                CostChannel.CALL, [int(str(r["id"])) for r in rows]
            )
    assert len(charges) == len(rows) == len(calls) >= 12
    for row in rows:
        duration = int(calls[str(row["provider_call_id"])]["duration"] or 0)
        price = NYC if row["campaign_id"] == before.id else dearer.prices[0]
        assert charges[int(str(row["id"]))].amount == price.call(duration), row

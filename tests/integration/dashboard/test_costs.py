"""Money on a campaign's page: what it cost so far, today (UTC) and per channel, per currency;
its budget against what it spent and what live calls hold on the budget ledger; and the note
when a spent budget paused it (or holds its calls until the budget's next day). Charges are
written straight into the store, as the engine writes them when calls and messages end."""

from __future__ import annotations

import asyncio
import contextlib
import html as markup
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from dialer.api.dashboard.live import INTERVAL, Snapshots
from dialer.api.dashboard.money import amount_text
from dialer.bootstrap import Runtime
from dialer.domain.budgets import Budget
from dialer.domain.costs import CostChannel, Increment, Price, RateCard, from_micros
from dialer.domain.statuses import CampaignStatus
from dialer.ports.budget import BudgetAccount, BudgetScope, Reservation
from dialer.ports.cost_store import NewCharge
from dialer.runner import run_to_end
from dialer.services import costs
from dialer.services.access import KeyScope, create_key
from tests.support.api import BASE, Keys, api_client, bearer, new_campaign
from tests.support.clock import T0
from tests.support.dashboard import sign_in
from tests.support.engine import EngineFactory, contacts, settings
from tests.support.polling import until

TODAY = T0.date()
# 8 minutes (the default max_call_duration) at 0.014 a minute: the least one more call reserves.
US = Price("1", per_minute=Decimal("0.0140"), increment=Increment(60, 60))
CARD = RateCard("twilio", CostChannel.CALL, "USD", (US,))
WORST = "USD 0.112"


def field(html: str, name: str) -> str:
    """The text of the page's element with ``data-field="name"``."""
    found = re.search(rf'data-field="{re.escape(name)}"[^>]*>([^<]*)<', html)
    assert found is not None, f"no {name} on the page"
    return markup.unescape(found.group(1).strip())


async def tenant_id(runtime: Runtime, name: str = "acme") -> int:
    async with runtime.store.unit() as uow:
        return await uow.tenants.id_for(name)


async def charge(
    runtime: Runtime,
    campaign_id: int,
    subject: int,
    amount: str,
    *,
    at: datetime = T0 - timedelta(hours=1),
    channel: CostChannel = CostChannel.CALL,
    currency: str = "USD",
    tenant: str = "acme",
) -> None:
    """A charge as the engine records one when a call or message ends at ``at``."""
    new = NewCharge(
        tenant_id=await tenant_id(runtime, tenant),
        campaign_id=campaign_id,
        channel=channel,
        subject_id=subject,
        amount=Decimal(amount),
        currency=currency,
        card_id=1,
        day=at.astimezone(UTC).date(),
        created_at=at,
    )
    async with runtime.store.unit() as uow:
        await uow.costs.record_charges([new])
        await uow.commit()


async def page(client: httpx.AsyncClient, campaign_id: int) -> str:
    response = await client.get(f"/dashboard/campaigns/{campaign_id}")
    assert response.status_code == 200, response.text
    return response.text


async def reload(client: httpx.AsyncClient, campaign_id: int) -> str:
    """The page again once the live snapshot it is drawn from (built at most once a
    second) is due to be built anew."""
    await asyncio.sleep(INTERVAL)
    return await page(client, campaign_id)


async def move(client: httpx.AsyncClient, keys: Keys, campaign_id: int, *actions: str) -> None:
    for action in actions:
        moved = await client.post(
            f"/v1/campaigns/{campaign_id}/{action}", headers=bearer(keys.operator)
        )
        assert moved.status_code == 200, moved.text


def budget(**values: str) -> dict[str, str]:
    return {"currency": "USD", **values}


# ------------------------------------------------------------------ amounts as text


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("12.384000", "USD 12.384"),
        ("1234.5", "USD 1,234.50"),
        ("5", "USD 5.00"),
        ("0", "USD 0.00"),
        ("0.013000", "USD 0.013"),
        ("0.123456", "USD 0.1235"),  # 4 decimals at most, half up
        ("0.000050", "USD 0.0001"),
        ("0.000040", "USD 0.00004"),  # never a charge shown as 0
    ],
)
def test_amounts_show_two_to_four_decimals_with_their_currency(amount: str, text: str) -> None:
    assert amount_text(Decimal(amount), "USD") == text


# ------------------------------------------------------------------ what it cost


async def test_the_page_shows_the_cost_so_far_today_and_per_channel_per_currency(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    steps = [{"call": {}}, {"sms": {"body": "Hi {{ name }}"}}]
    mine = (await new_campaign(client, keys.operator, steps=steps))["id"]
    other = (await new_campaign(client, keys.operator, name="other"))["id"]
    theirs = (await new_campaign(client, keys.other, name="globex's"))["id"]
    await charge(runtime, mine, 1, "0.120000")
    await charge(runtime, mine, 2, "0.013500", at=T0 - timedelta(days=1))
    await charge(runtime, mine, 1, "0.007900", channel=CostChannel.SMS)
    await charge(runtime, mine, 1, "0.000100", channel=CostChannel.EMAIL)
    await charge(runtime, mine, 3, "0.500000", currency="EUR")
    await charge(runtime, other, 4, "9.990000")  # another campaign of the tenant
    await charge(runtime, theirs, 5, "7.770000", tenant="globex")  # another tenant's

    await sign_in(client, keys.viewer)
    html = await page(client, mine)
    assert field(html, "cost-total") == "EUR 0.50 · USD 0.1415"
    assert field(html, "cost-day") == "2026-03-03"
    assert field(html, "cost-today") == "EUR 0.50 · USD 0.128"  # yesterday's call left out
    assert (field(html, "count-call"), field(html, "cost-call")) == ("3", "EUR 0.50 · USD 0.1335")
    assert (field(html, "count-sms"), field(html, "cost-sms")) == ("1", "USD 0.0079")
    assert (field(html, "count-email"), field(html, "cost-email")) == ("1", "USD 0.0001")
    assert "9.99" not in html
    assert "7.77" not in html
    assert field(html, "budget-note") == ""
    assert "No budget of its own" in html

    fresh = (await new_campaign(client, keys.operator, name="fresh"))["id"]
    html = await page(client, fresh)
    assert field(html, "cost-total") == "nothing charged yet"
    assert field(html, "cost-call") == "—"
    assert 'data-field="cost-sms"' not in html  # a calls-only campaign has no SMS row


async def test_the_live_snapshot_carries_the_same_figures_as_the_page(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    body = {"total": "5.00", "per_day": "1.00"}
    mine = (await new_campaign(client, keys.operator, budget=budget(**body)))["id"]
    await charge(runtime, mine, 1, "0.250000")
    await sign_in(client, keys.viewer)
    html = await page(client, mine)

    snapshot = await Snapshots(runtime.services).build(await tenant_id(runtime), mine)
    detail = json.loads(json.dumps(snapshot))["campaign"]  # what the stream sends
    for name in ("cost-total", "cost-today", "cost-call", "budget-total-spent", "budget-note"):
        assert detail["text"][name] == field(html, name)
    meters = {
        name: (Decimal(meter["value"]), Decimal(meter["max"]))
        for name, meter in detail["meters"].items()
    }
    assert meters == {
        "budget-total": (Decimal("0.25"), Decimal(5)),
        "budget-today": (Decimal("0.25"), Decimal(1)),
    }
    await charge(runtime, mine, 2, "0.100000")
    later = await Snapshots(runtime.services).build(await tenant_id(runtime), mine)
    assert later["campaign"]["text"]["budget-total-spent"] == "USD 0.35"


# ------------------------------------------------------------------ against its budget


async def test_a_budget_shows_spent_held_by_live_calls_and_left_in_its_own_day(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    body = {"total": "5.00", "per_day": "1.00", "timezone": "America/New_York"}
    mine = (await new_campaign(client, keys.operator, budget=budget(**body)))["id"]
    await charge(runtime, mine, 1, "0.250000")  # 14:00 UTC: the budget's day (New York)
    await charge(runtime, mine, 2, "0.400000", at=T0.replace(hour=3))  # New York's yesterday
    await charge(runtime, mine, 3, "0.700000", at=T0 - timedelta(days=1))
    await sign_in(client, keys.viewer)

    # No call has reserved on the ledger yet: the store's spend alone.
    html = await page(client, mine)
    assert field(html, "cost-total") == "USD 1.35"
    assert field(html, "cost-today") == "USD 0.65"  # the UTC day
    assert field(html, "budget-total-spent") == "USD 1.35"
    assert field(html, "budget-total-limit") == "USD 5.00"
    assert field(html, "budget-total-share") == "27.0 %"
    assert field(html, "budget-total-reserved") == "—"
    assert field(html, "budget-total-left") == "USD 3.65"
    assert field(html, "budget-today-label") == "Today (2026-03-03, America/New_York)"
    assert field(html, "budget-today-spent") == "USD 0.25"
    assert field(html, "budget-today-limit") == "USD 1.00"
    assert field(html, "budget-today-left") == "USD 0.75"
    assert field(html, "budget-note") == ""

    # A live call holds its worst case on both accounts.
    ledger = runtime.services.budgets
    assert ledger is not None
    total, day = f"c:{mine}", f"c:{mine}:2026-03-03"
    await ledger.open({total: (1_350_000, None), day: (250_000, 3600.0)})
    accounts = (
        BudgetAccount(total, 5_000_000, BudgetScope.CAMPAIGN_TOTAL),
        BudgetAccount(day, 1_000_000, BudgetScope.CAMPAIGN_DAY, 3600.0),
    )
    assert await ledger.reserve([Reservation("lease-1", 112_000, accounts, 600.0)]) == [None]
    html = await reload(client, mine)
    assert field(html, "budget-total-spent") == "USD 1.35"
    assert field(html, "budget-total-reserved") == "USD 0.112"
    assert field(html, "budget-total-left") == "USD 3.538"
    assert field(html, "budget-today-reserved") == "USD 0.112"
    assert field(html, "budget-today-left") == "USD 0.638"


async def test_a_campaign_paused_by_its_spent_budget_says_so(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    async def campaign(name: str, total: str, spent: str) -> int:
        made = await new_campaign(client, keys.operator, name=name, budget=budget(total=total))
        await charge(runtime, made["id"], made["id"], spent)
        return int(made["id"])

    nearly = await campaign("nearly", "1.00", "0.960000")
    spent = await campaign("spent", "1.00", "0.900000")
    roomy = await campaign("roomy", "10", "0.900000")
    await sign_in(client, keys.viewer)

    # No rate card: spent once 95 % of it is gone; only a paused campaign gets the note.
    await move(client, keys, nearly, "start")
    assert field(await page(client, nearly), "budget-note") == ""
    await move(client, keys, nearly, "pause")
    assert field(await reload(client, nearly), "budget-note") == (
        "Paused because its budget is spent: USD 0.04 left of USD 1.00. "
        "Raise the budget and resume the campaign to go on."
    )
    await move(client, keys, spent, "start", "pause")
    assert field(await page(client, spent), "budget-note") == ""  # 90 % of it

    # With the rate card: spent once one more call's worst case no longer fits.
    await costs.add_card(runtime.store, runtime.services.pricing, CARD, T0)
    html = await reload(client, spent)
    assert field(html, "budget-note") == (
        "Paused because its budget is spent: USD 0.10 left of USD 1.00, less than one more "
        f"call may cost ({WORST}). Raise the budget and resume the campaign to go on."
    )
    assert field(html, "budget-total-share") == "90.0 %"
    await move(client, keys, roomy, "start", "pause")
    assert field(await page(client, roomy), "budget-note") == ""  # paused by a person


async def test_the_note_reads_what_the_ledger_counts_as_spent(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    mine = (await new_campaign(client, keys.operator, budget=budget(total="1.00")))["id"]
    await costs.add_card(runtime.store, runtime.services.pricing, CARD, T0)
    await charge(runtime, mine, 1, "0.800000")
    await move(client, keys, mine, "start", "pause")
    await sign_in(client, keys.viewer)
    assert field(await page(client, mine), "budget-note") == ""  # 0.20 left: a call fits

    # A call whose end was never priced counts at its worst case on the ledger.
    assert runtime.services.budgets is not None
    await runtime.services.budgets.open({f"c:{mine}": (950_000, None)})
    html = await reload(client, mine)
    assert field(html, "budget-total-spent") == "USD 0.80"  # charged
    assert field(html, "budget-total-reserved") == "USD 0.00"
    assert field(html, "budget-total-left") == "USD 0.05"  # as the dispatcher counts it
    assert field(html, "budget-note").startswith(
        "Paused because its budget is spent: USD 0.05 left of USD 1.00"
    )


async def test_a_spent_day_says_when_calls_resume(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    mine = (await new_campaign(client, keys.operator, budget=budget(per_day="0.20")))["id"]
    await costs.add_card(runtime.store, runtime.services.pricing, CARD, T0)
    await charge(runtime, mine, 1, "0.100000")
    await charge(runtime, mine, 2, "5.000000", at=T0 - timedelta(days=1))  # another day
    await move(client, keys, mine, "start")
    await sign_in(client, keys.viewer)
    html = await page(client, mine)
    assert 'data-field="budget-total-spent"' not in html  # no total: only its day
    assert field(html, "budget-today-spent") == "USD 0.10"
    assert field(html, "budget-note") == (
        f"Today's budget is spent: USD 0.10 left of USD 0.20, less than one more call may "
        f"cost ({WORST}). Calls resume at 2026-03-04 00:00 UTC."
    )


async def test_a_campaign_paused_by_its_tenants_spent_budget_says_so(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    put = await client.put(
        "/v1/budget", json={"total": "2.00", "currency": "USD"}, headers=bearer(keys.admin)
    )
    assert put.status_code == 200, put.text
    await costs.add_card(runtime.store, runtime.services.pricing, CARD, T0)
    first = (await new_campaign(client, keys.operator, name="first"))["id"]
    second = (await new_campaign(client, keys.operator, name="second"))["id"]
    await charge(runtime, first, 1, "1.000000")
    await charge(runtime, second, 2, "0.950000")
    await move(client, keys, first, "start", "pause")
    await sign_in(client, keys.viewer)
    assert field(await page(client, first), "budget-note") == (
        "Paused because the tenant's budget is spent: USD 0.05 left of USD 2.00, less than "
        f"one more call may cost ({WORST}). Raise the budget and resume the campaign to go on."
    )
    assert field(await page(client, second), "budget-note") == ""  # a draft, not paused


async def test_another_tenants_campaign_costs_are_not_shown(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    mine = (await new_campaign(client, keys.operator, budget=budget(total="3.00")))["id"]
    await charge(runtime, mine, 1, "1.234500")
    await sign_in(client, keys.other)
    response = await client.get(f"/dashboard/campaigns/{mine}")
    assert response.status_code == 404
    assert "1.2345" not in response.text
    assert (await client.get(f"/dashboard/events?campaign={mine}")).status_code == 404


# ------------------------------------------------------------------ on the real engine


async def test_a_campaign_its_budget_paused_on_the_simulator_shows_why(
    engine: EngineFactory,
) -> None:
    nyc = Price("1212", per_minute=Decimal("0.02"), increment=Increment(30, 6))
    card = RateCard("twilio", CostChannel.CALL, "USD", (nyc,))
    limit = Budget("USD", total=Decimal("0.05"))
    async with engine() as e:
        await costs.add_card(e.store, e.runtime.services.pricing, card, e.clock.now())
        campaign = await e.campaign(
            settings(max_concurrency=3, ramp_up=0, max_call_duration=30, budget=limit),
            contacts(30),
        )
        running = asyncio.create_task(run_to_end(e.runtime, campaign.id))
        try:
            await until(lambda: _paused_and_settled(e.runtime, campaign.id), 60, "it paused")
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        async with e.store.unit() as uow:
            spent = from_micros(await uow.costs.spent("USD", campaign_id=campaign.id))
        _, viewer = await create_key(e.store, "acme", KeyScope.VIEWER, "viewer", e.clock.now())
        async with api_client(e.runtime) as client:
            assert str(client.base_url).rstrip("/") == BASE
            await sign_in(client, viewer)
            html = await page(client, campaign.id)
    assert limit.total is not None
    assert 0 < spent <= limit.total
    assert field(html, "status") == "PAUSED"
    assert field(html, "cost-total") == amount_text(spent, "USD")
    assert field(html, "budget-total-spent") == amount_text(spent, "USD")
    assert field(html, "budget-total-reserved") == "USD 0.00"  # every call settled
    note = field(html, "budget-note")
    assert note.startswith("Paused because its budget is spent: ")
    assert "less than one more call may cost (USD 0.01)" in note  # 30 s at 0.02 a minute


async def _paused_and_settled(runtime: Runtime, campaign_id: int) -> bool:
    async with runtime.store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
        live = [a for a in await uow.attempts.live() if a.campaign_id == campaign_id]
    return campaign.status is CampaignStatus.PAUSED and not live

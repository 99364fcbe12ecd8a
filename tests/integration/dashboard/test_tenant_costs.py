"""The dashboard's costs page: the tenant's spend over the last 30 UTC days per campaign and
per day (a column per currency), its budget against its spend, and never another tenant's."""

from __future__ import annotations

import html as markup
import re
from datetime import timedelta

import httpx

from dialer.bootstrap import Runtime
from dialer.domain.costs import CostChannel
from dialer.services import costs
from tests.integration.dashboard.test_costs import CARD, charge, field, tenant_id
from tests.support.api import Keys, bearer, new_campaign
from tests.support.clock import T0
from tests.support.dashboard import sign_in

ROW = re.compile(r'<tr data-(campaign|day|total)(?:="([^"]*)")?>(.*?)</tr>', re.S)
CELL = re.compile(r'<td class="num" data-(?:amount="([A-Z]{3})"|col="count")>([^<]*)</td>')


def rows(html: str, kind: str) -> dict[str, dict[str, str]]:
    """The table's rows of ``kind`` (campaign id, day, or the total) as {column: text}."""
    found = {}
    for what, key, cells in ROW.findall(html):
        if what == kind:
            found[key or "total"] = {
                currency or "count": markup.unescape(text) for currency, text in CELL.findall(cells)
            }
    return found


async def costs_page(client: httpx.AsyncClient) -> str:
    response = await client.get("/dashboard/costs")
    assert response.status_code == 200, response.text
    return response.text


async def test_the_costs_page_sums_the_last_30_days_per_campaign_and_per_day(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    first = (await new_campaign(client, keys.operator, name="first"))["id"]
    second = (await new_campaign(client, keys.operator, name="second"))["id"]
    theirs = (await new_campaign(client, keys.other, name="globex's"))["id"]
    await charge(runtime, first, 1, "0.120000")
    await charge(runtime, first, 1, "1.000000", at=T0 - timedelta(days=5), channel=CostChannel.SMS)
    await charge(runtime, second, 2, "0.500000", at=T0 - timedelta(days=29))  # the 30th day
    await charge(runtime, second, 3, "3.000000", at=T0 - timedelta(days=30))  # before them
    await charge(runtime, second, 4, "0.300000", currency="EUR")
    await charge(runtime, theirs, 5, "7.770000", tenant="globex")

    await sign_in(client, keys.viewer)
    html = await costs_page(client)
    assert "Per campaign, 2026-02-02 to 2026-03-03 (the last 30 UTC days)" in html
    assert rows(html, "campaign") == {
        str(second): {"EUR": "EUR 0.30", "USD": "USD 0.50", "count": "2"},
        str(first): {"EUR": "—", "USD": "USD 1.12", "count": "2"},
    }
    assert list(rows(html, "campaign")) == [str(second), str(first)]  # the dearest first
    assert rows(html, "total") == {"total": {"EUR": "EUR 0.30", "USD": "USD 1.62", "count": "4"}}
    days = rows(html, "day")
    # Every day of the 30, newest first.
    assert list(days) == [(T0.date() - timedelta(days=n)).isoformat() for n in range(30)]
    assert days["2026-03-03"] == {"EUR": "EUR 0.30", "USD": "USD 0.12", "count": "2"}
    assert days["2026-02-26"] == {"EUR": "—", "USD": "USD 1.00", "count": "1"}
    assert days["2026-02-02"] == {"EUR": "—", "USD": "USD 0.50", "count": "1"}
    assert days["2026-02-27"] == {"EUR": "—", "USD": "—", "count": "0"}
    assert "2026-02-01" not in days
    assert "3.00" not in html
    assert "7.77" not in html  # globex's
    assert 'data-testid="no-tenant-budget"' in html


async def test_the_tenants_budget_against_its_spend(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    document = {"total": "10.00", "per_day": "1.00", "currency": "USD"}
    put = await client.put("/v1/budget", json=document, headers=bearer(keys.admin))
    assert put.status_code == 200, put.text
    first = (await new_campaign(client, keys.operator, name="first"))["id"]
    await charge(runtime, first, 1, "0.120000")
    await charge(runtime, first, 2, "4.500000", at=T0 - timedelta(days=40))  # counts in all
    await sign_in(client, keys.viewer)

    html = await costs_page(client)
    assert field(html, "tenant-budget-total-spent") == "USD 4.62"
    assert field(html, "tenant-budget-total-limit") == "USD 10.00"
    assert field(html, "tenant-budget-total-share") == "46.2 %"
    assert field(html, "tenant-budget-total-reserved") == "—"  # the ledger has no account
    assert field(html, "tenant-budget-total-left") == "USD 5.38"
    assert field(html, "tenant-budget-today-spent") == "USD 0.12"
    assert field(html, "tenant-budget-today-label") == "Today (2026-03-03, UTC)"
    assert 'data-testid="tenant-budget-note"' not in html

    # Calls live under it hold their worst case on the tenant's accounts.
    ledger = runtime.services.budgets
    assert ledger is not None
    acme = await tenant_id(runtime)
    await ledger.open({f"t:{acme}": (4_620_000, None), f"t:{acme}:2026-03-03": (960_000, 60.0)})
    await costs.add_card(runtime.store, runtime.services.pricing, CARD, T0)
    html = await costs_page(client)
    assert field(html, "tenant-budget-total-reserved") == "USD 0.00"
    assert field(html, "tenant-budget-today-spent") == "USD 0.12"  # charged
    assert field(html, "tenant-budget-today-left") == "USD 0.04"  # as the ledger counts it
    note = re.search(r'data-testid="tenant-budget-note">([^<]*)<', html)
    assert note is not None
    assert markup.unescape(note.group(1)) == (
        "Today's budget of the tenant is spent: calls resume at 2026-03-04 00:00 UTC."
    )


async def test_another_tenant_sees_only_its_own_costs_and_budget(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    document = {"total": "50.00", "currency": "USD"}
    assert (await client.put("/v1/budget", json=document, headers=bearer(keys.admin))).is_success
    mine = (await new_campaign(client, keys.operator, name="acme's"))["id"]
    await charge(runtime, mine, 1, "1.234500")

    await sign_in(client, keys.other)
    html = await costs_page(client)
    assert 'data-testid="no-costs"' in html
    assert 'data-testid="no-tenant-budget"' in html  # acme's budget is not globex's
    assert "1.2345" not in html
    assert "acme&#39;s" not in html
    assert "50.00" not in html

    theirs = (await new_campaign(client, keys.other, name="globex's"))["id"]
    await charge(runtime, theirs, 2, "0.250000", tenant="globex")
    html = await costs_page(client)
    assert rows(html, "campaign") == {str(theirs): {"USD": "USD 0.25", "count": "1"}}
    assert "1.2345" not in html

"""Money on the dashboard in headless Chromium: a real `dialer serve --api-only` (nothing is
dialled: charges are written into its database as calls would leave them), the campaign
page's cost and budget figures and its budget bar updated live over SSE as charges arrive,
the "budget spent" note appearing once the campaign is paused with its budget gone, and the
tenant's costs page.

Chromium missing fails the test (make test installs it: scripts/ensure-tools.sh)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from playwright.async_api import LocatorAssertions, Page, async_playwright, expect

from dialer.domain.costs import CostChannel
from dialer.ports.cost_store import NewCharge
from tests.e2e.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, make_key, require_chromium
from tests.support.api import CAMPAIGN, api_runtime, bearer
from tests.support.processes import dialer_serve

pytestmark = pytest.mark.slow

BUDGET = {"total": "2.00", "per_day": "1.00", "currency": "USD"}


async def _charge(database: str, campaign_id: int, subject: int, amount: str) -> None:
    """A call's charge, as the engine writes it when the call ends."""
    now = datetime.now(UTC)
    async with api_runtime(database) as runtime, runtime.store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
        charge = NewCharge(
            tenant_id=campaign.tenant_id,
            campaign_id=campaign_id,
            channel=CostChannel.CALL,
            subject_id=subject,
            amount=Decimal(amount),
            currency="USD",
            card_id=1,
            day=now.date(),
            created_at=now,
        )
        await uow.costs.record_charges([charge])
        await uow.commit()


async def test_costs_on_the_dashboard_in_a_browser(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'costs.db'}"
    token = make_key(database)
    env = {
        "DIALER_DATABASE_URL": database,
        "DIALER_LISTEN": "127.0.0.1:0",
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": "costs-token",
        "DIALER_TWILIO_API_BASE": "http://127.0.0.1:9",  # never called: nothing is dialled
    }
    async with dialer_serve(env, "--api-only") as url, httpx.AsyncClient(base_url=url) as api:
        campaign = {**CAMPAIGN, "name": "with-a-budget", "budget": BUDGET}
        created = await api.post("/v1/campaigns", json=campaign, headers=bearer(token))
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        await _charge(database, campaign_id, 1, "0.250000")
        async with async_playwright() as playwright:
            require_chromium()
            context = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": 1280, "height": 1000},
            )
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                page.set_default_timeout(15_000)
                await _sign_in(page, url, token)
                await page.goto(f"{url}/dashboard/campaigns/{campaign_id}")
                await _watch_the_spend(page, api, token, database, campaign_id)
                await page.screenshot(path=str(tmp_path / "costs.png"), full_page=True)
                await page.goto(f"{url}/dashboard/costs")
                row = page.locator(f'tr[data-campaign="{campaign_id}"]')
                await expect(row.locator('[data-amount="USD"]')).to_have_text("USD 1.95")
                await expect(row.locator('[data-col="count"]')).to_have_text("3")
                await page.screenshot(path=str(tmp_path / "costs-page.png"), full_page=True)
            finally:
                await context.close()


async def _sign_in(page: Page, url: str, token: str) -> None:
    await page.goto(f"{url}/dashboard/login")
    await page.fill("#api_key", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}/dashboard")


async def _watch_the_spend(
    page: Page, api: httpx.AsyncClient, token: str, database: str, campaign_id: int
) -> None:
    def shown(name: str) -> LocatorAssertions:
        return expect(page.locator(f'[data-field="{name}"]'))

    await shown("cost-total").to_have_text("USD 0.25")
    await shown("budget-total-spent").to_have_text("USD 0.25")
    await shown("budget-total-share").to_have_text("12.5 %")
    await shown("budget-total-reserved").to_have_text("—")  # this server's ledger: no account
    await expect(page.get_by_test_id("budget-note")).to_be_hidden()
    # From here on the page must change by itself: a reload would lose this mark.
    await page.evaluate("window.__sameDocument = true")

    await _charge(database, campaign_id, 2, "0.500000")
    await shown("cost-total").to_have_text("USD 0.75")
    await shown("count-call").to_have_text("2")
    await shown("budget-today-spent").to_have_text("USD 0.75")
    await shown("budget-total-share").to_have_text("37.5 %")
    meter = page.locator('[data-meter="budget-total"]')
    await expect(meter).to_have_js_property("value", 0.75)
    await expect(meter).to_have_js_property("max", 2)

    # Its budget all but gone (no rate card here: 95 % of it), the campaign is paused.
    await _charge(database, campaign_id, 3, "1.200000")
    for action in ("start", "pause"):
        moved = await api.post(f"/v1/campaigns/{campaign_id}/{action}", headers=bearer(token))
        assert moved.status_code == 200, moved.text
    note = page.get_by_test_id("budget-note")
    await expect(note).to_be_visible()
    await expect(note).to_contain_text("Paused because its budget is spent: USD 0.05 left")
    assert await page.evaluate("window.__sameDocument") is True

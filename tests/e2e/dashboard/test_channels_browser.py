"""Channels on the dashboard in headless Chromium: a real `dialer serve --api-only` (nothing
is sent: the messages are written into its database), the campaign page's table of messages
per channel updated live over SSE when a message is delivered, and the tenant page's
opt-out counts.

Chromium missing fails the test (make test installs it: scripts/ensure-tools.sh)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from dialer.domain.channels import Channel
from dialer.domain.statuses import MessageStatus
from tests.e2e.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, make_key, require_chromium
from tests.support.api import CAMPAIGN, api_runtime, bearer
from tests.support.messages import CY, STEPS, plant_messages
from tests.support.processes import dialer_serve

pytestmark = pytest.mark.slow


async def _deliver_cys_sms(database: str, campaign_id: int, message_id: int) -> None:
    async with api_runtime(database) as runtime, runtime.store.unit() as uow:
        message = await uow.messages.get(message_id)
        assert message is not None
        assert message.campaign_id == campaign_id
        message.move_to(MessageStatus.SENDING)
        message.move_to(MessageStatus.DELIVERED)
        await uow.messages.save(message)
        await uow.commit()


async def test_channels_on_the_dashboard_in_a_browser(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'channels.db'}"
    token = make_key(database)
    env = {
        "DIALER_DATABASE_URL": database,
        "DIALER_LISTEN": "127.0.0.1:0",
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": "channels-token",
        "DIALER_TWILIO_API_BASE": "http://127.0.0.1:9",  # never called: nothing is sent
    }
    async with dialer_serve(env, "--api-only") as url, httpx.AsyncClient(base_url=url) as api:
        campaign = {**CAMPAIGN, "name": "with-steps", "steps": STEPS}
        created = await api.post("/v1/campaigns", json=campaign, headers=bearer(token))
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        async with api_runtime(database) as runtime:
            planted = await plant_messages(runtime, campaign_id, datetime.now(UTC))
        for channel, addresses in (
            ("sms", ["+12125550100", "+12125550101"]),
            ("email", ["a@b.example"]),
        ):
            added = await api.post(
                f"/v1/opt-outs/{channel}", json={"addresses": addresses}, headers=bearer(token)
            )
            assert added.status_code == 200, added.text
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
                await _watch_a_delivery(page, database, campaign_id, planted.ids[(CY, Channel.SMS)])
                await page.screenshot(path=str(tmp_path / "channels.png"), full_page=True)
                await page.goto(f"{url}/dashboard/tenant")
                await expect(page.locator('[data-opt-outs="sms"]')).to_have_text("2")
                await expect(page.locator('[data-opt-outs="email"]')).to_have_text("1")
            finally:
                await context.close()


async def _sign_in(page: Page, url: str, token: str) -> None:
    await page.goto(f"{url}/dashboard/login")
    await page.fill("#api_key", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}/dashboard")


async def _watch_a_delivery(page: Page, database: str, campaign_id: int, message_id: int) -> None:
    table = page.get_by_test_id("channels")
    await expect(table.locator("tbody tr")).to_have_count(2)
    for field, shown in (
        ("sms-delivered", "1"),
        ("sms-failed", "1"),
        ("sms-pending", "1"),
        ("sms-total", "3"),
        ("email-sent", "1"),
        ("email-waiting", "1"),
        ("email-total", "2"),
    ):
        await expect(page.locator(f'[data-field="{field}"]')).to_have_text(shown)
    # From here on the page must change by itself: a reload would lose this mark.
    await page.evaluate("window.__sameDocument = true")
    await _deliver_cys_sms(database, campaign_id, message_id)
    await expect(page.locator('[data-field="sms-delivered"]')).to_have_text("2")
    await expect(page.locator('[data-field="sms-pending"]')).to_have_text("0")
    assert await page.evaluate("window.__sameDocument") is True

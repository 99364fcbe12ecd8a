"""The dashboard end to end in headless Chromium (Playwright driving /usr/bin/chromium): a real
`dialer serve` dialling our telephony simulator over HTTP, a key made with `dialer keys`,
sign-in through the page, a CSV import with one bad row, Start with the page updated live over
SSE (never a live-call figure above the cap shown), Pause, and a dead letter replayed.

Chromium missing fails the test (make test installs it: scripts/ensure-tools.sh)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from dialer.bootstrap import open_store
from dialer.domain.statuses import TERMINAL_ATTEMPT
from dialer.ports import AttemptQuery, CallRequest, NewDeadLetter, Origination
from dialer.ports.jobs import ORIGINATE, job_key, job_payload
from dialer.settings import load_settings
from dialer.simulator.config import config_from
from dialer.simulator.server import running_simulator
from tests.support.api import bearer
from tests.support.clock import T0
from tests.support.processes import dialer_serve

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SID, TOKEN = "AC" + "cd" * 16, "dashboard-token"
CAP, LEADS, BAD_LINE = 3, 20, 5
SIMULATOR = {
    "account_sid": SID,
    "auth_token": TOKEN,
    "speed": 1.0,
    "setup_time": 0.05,
    "ring_min": 0.4,
    "ring_max": 0.8,
    "busy_ring": 0.4,
    "talk_mean": 1.8,
    "cps": 1000.0,
    "outcome_mix": {"answer": 0.75, "busy": 0.15, "failed": 0.1},
    "seed": 8,
}
CAMPAIGN = {
    "name": "spring-reminders",
    "caller_id": "+14155550100",
    "max_concurrency": CAP,
    "ramp_up": 0,
    "window": {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": "00:00",
        "end": "24:00",
    },
    "retry": {"max_attempts": 1},
}


def contacts_csv(path: Path) -> Path:
    """LEADS good rows, and a bad number on line BAD_LINE."""
    rows = [f"+1212555{i:04d},Contact {i}" for i in range(LEADS)]
    rows.insert(BAD_LINE - 2, "12345,Nobody")
    path.write_text("phone,name\n" + "\n".join(rows) + "\n")
    return path


def require_chromium() -> None:
    """Missing Chromium is a failure, never a skip."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/ensure-tools.sh"


def make_key(database: str) -> str:
    """An operator key, made the way an operator would: `dialer keys create`."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dialer.cli",
            "keys",
            "create",
            "--tenant",
            "acme",
            "--scope",
            "operator",
            "--name",
            "browser",
        ],
        env={**os.environ, "DIALER_DATABASE_URL": database},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = done.stdout.strip().splitlines()[-1]
    assert token.startswith("dk_"), done.stdout
    return token


async def plant_dead_letter(database: str, campaign_id: int) -> int:
    """A failed origination job for one of the campaign's ended attempts, as a worker that
    gave up on it would leave it; returns the letter's id."""
    async with open_store(load_settings(database_url=database)) as store, store.unit() as uow:
        tenant_id = await uow.tenants.id_for("acme")
        query = AttemptQuery(tenant_id=tenant_id, limit=100, campaign_id=campaign_id)
        attempts = await uow.attempts.find(query)
        ended = next(a for a in attempts if a.status in TERMINAL_ATTEMPT)
        request = CallRequest(ended.id, ended.phone, "+14155550100", "http://cb", 30, 60)
        job = Origination(
            ended.id, ended.lead_id, campaign_id, ended.tenant_id, ended.lease_id, request
        )
        payload = job_payload(job)
        letter = NewDeadLetter(
            ended.tenant_id, ORIGINATE, job_key(payload), "provider down (planted)", payload, 5
        )
        await uow.cluster.add_dead_letter(letter, T0)
        await uow.commit()
        [stored] = await uow.cluster.dead_letters(ended.tenant_id, 0, 10, False)
    return stored.id


async def figures(page: Page) -> dict[str, str]:
    return {
        name: await page.locator(f'[data-field="{name}"]').first.inner_text()
        for name in ("status", "progress", "live-campaign", "cap-campaign", "eta")
    }


async def watch_live_against_cap(page: Page, seconds: float) -> list[tuple[int, int]]:
    """(live, cap) as shown, every 100 ms."""
    seen = []
    for _ in range(int(seconds * 10)):
        shown = await figures(page)
        seen.append((int(shown["live-campaign"]), int(shown["cap-campaign"])))
        await asyncio.sleep(0.1)
    return seen


async def test_the_dashboard_in_a_browser(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'dashboard.db'}"
    token = make_key(database)
    async with running_simulator(config_from(SIMULATOR)) as sim_url:
        env = {
            "DIALER_DATABASE_URL": database,
            "DIALER_LISTEN": "127.0.0.1:0",
            "DIALER_TWILIO_API_BASE": sim_url,
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "DIALER_TICK_SECONDS": "0.1",
        }
        async with dialer_serve(env) as url, httpx.AsyncClient(base_url=url) as api:
            created = await api.post("/v1/campaigns", json=CAMPAIGN, headers=bearer(token))
            assert created.status_code == 201, created.text
            campaign_id = created.json()["id"]
            await _drive_the_dashboard(tmp_path, url, token, campaign_id, database)
        async with httpx.AsyncClient(base_url=sim_url) as sim:
            stats: dict[str, Any] = (await sim.get("/_sim/stats")).json()
    assert 0 < stats["peak_active"] <= CAP  # the provider's side agrees with the page


async def _drive_the_dashboard(
    tmp_path: Path, url: str, token: str, campaign_id: int, database: str
) -> None:
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
            await _import(page, url, campaign_id, contacts_csv(tmp_path / "contacts.csv"))
            await _start_and_watch(page, tmp_path)
            await _pause(page)
            letter_id = await plant_dead_letter(database, campaign_id)
            await _replay(page, url, letter_id)
        finally:
            await context.close()


async def _sign_in(page: Page, url: str, token: str) -> None:
    await page.goto(f"{url}/dashboard")
    assert page.url.endswith("/dashboard/login")  # redirected: no session yet
    await page.fill("#api_key", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}/dashboard")
    await expect(page.get_by_test_id("who")).to_have_text("acme · operator")
    await expect(page.locator("[data-campaign] [data-col=name]")).to_have_text("spring-reminders")
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "dialer_session")
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    assert token.split("_", 2)[2] not in session["value"]


async def _import(page: Page, url: str, campaign_id: int, csv: Path) -> None:
    await page.click("[data-campaign] [data-col=name]")
    await page.wait_for_url(f"{url}/dashboard/campaigns/{campaign_id}")
    await page.set_input_files("[data-testid=csv-file]", str(csv))
    await page.check("input[name=mode][value=lenient]")
    await page.click("[data-action=import]")
    report = page.get_by_test_id("rejection-report")
    await expect(report.locator("tbody tr")).to_have_count(1)
    row = report.locator("tbody tr td")
    await expect(row.nth(0)).to_have_text(f"line {BAD_LINE}")
    await expect(row.nth(1)).to_have_text("phone")
    await expect(page.get_by_test_id("notice")).to_contain_text(f"{LEADS} leads added, 1 rejected")
    await expect(page.get_by_test_id("progress")).to_have_text(f"0 / {LEADS}")


async def _start_and_watch(page: Page, tmp_path: Path) -> None:
    await page.click("[data-action=start]")
    await expect(page.get_by_test_id("status")).to_have_text("RUNNING")
    # From here on the page must change by itself: a reload would lose this mark.
    await page.evaluate("window.__sameDocument = true")
    await page.wait_for_function(
        "document.querySelector('[data-field=live-campaign]').textContent !== '0'"
    )
    seen = await watch_live_against_cap(page, 3.0)
    assert all(live <= cap for live, cap in seen), seen
    assert max(live for live, _ in seen) > 0
    await page.wait_for_function(
        f"document.querySelector('[data-testid=progress]').textContent !== '0 / {LEADS}'"
    )
    await expect(page.get_by_test_id("eta")).to_have_text(re.compile(r"^\d+(s|m \d\ds)$"))
    await expect(page.get_by_test_id("rate")).not_to_have_text("0.00")
    done = re.compile(r"^[1-9]\d*$")
    await expect(page.locator('[data-count="COMPLETED"]')).to_have_text(done)
    assert await page.evaluate("window.__sameDocument") is True
    await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)


async def _pause(page: Page) -> None:
    await page.click("[data-action=pause]")
    await expect(page.get_by_test_id("status")).to_have_text("PAUSED")
    await expect(page.get_by_test_id("notice")).to_contain_text("is PAUSED")
    await expect(page.locator("[data-action=resume]")).to_be_visible()
    await expect(page.locator("[data-action=pause]")).to_be_hidden()
    shown = await figures(page)
    finished = int(shown["progress"].split(" / ")[0])
    assert 0 < finished < LEADS, shown  # paused part-way


async def _replay(page: Page, url: str, letter_id: int) -> None:
    await page.goto(f"{url}/dashboard/dlq")
    row = page.locator(f'[data-letter="{letter_id}"]')
    await expect(row.locator(".cause")).to_have_text("provider down (planted)")
    await row.locator("[data-action=replay]").click()
    await expect(page.get_by_test_id("notice")).to_have_text(f"Dead letter {letter_id} replayed.")
    await expect(page.locator(f'[data-letter="{letter_id}"]')).to_have_count(0)
    await page.goto(f"{url}/dashboard/dlq?closed=true")
    await expect(page.locator(f'[data-letter="{letter_id}"]')).to_contain_text("replayed")

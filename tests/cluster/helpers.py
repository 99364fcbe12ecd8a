"""What the cluster tests share: campaigns, polling loops bounded in time, direct reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select

from dialer.adapters.store.tables import call_attempts
from dialer.bootstrap import Runtime
from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import TERMINAL_LEAD, CampaignStatus
from dialer.ports import ContactDraft, Store
from dialer.services.campaigns import create_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.services.context import Services

NY = zone_key(("America/New_York",))


def drafts(count: int, prefix: str = "+1212") -> list[ContactDraft]:
    return [ContactDraft(f"{prefix}{5550000 + i:07d}", NY) for i in range(count)]


async def running_campaign(
    services: Services, name: str, contacts: list[ContactDraft], **changes: Any
) -> Campaign:
    values: dict[str, Any] = {
        "name": name,
        "caller_id": "+14155550100",
        "max_concurrency": 20,
        "retry": RetryPolicy(1),
        "ramp_up": 0,
        "ring_timeout": 10,
        "max_call_duration": 60,
        **changes,
    }
    campaign = await create_campaign(services, "acme", CampaignSettings(**values))
    await import_drafts(services, campaign.id, contacts)
    await start_campaign(services, campaign.id)
    return campaign


async def until(
    check: Callable[[], Awaitable[bool]],
    seconds: float,
    what: str,
    *,
    every: float = 0.1,
    alive: Callable[[], None] | None = None,
) -> None:
    """Poll ``check`` until it holds; fail after ``seconds`` (or at once if ``alive`` raises)."""
    deadline = time.monotonic() + seconds
    while not await check():
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(every)


async def dispatch_until(
    runtime: Runtime,
    done: Callable[[], Awaitable[bool]],
    seconds: float,
    what: str,
    alive: Callable[[], None] | None = None,
) -> int:
    """Run dispatcher ticks until ``done``; how many calls were handed out."""
    handed = 0
    deadline = time.monotonic() + seconds
    while not await done():
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        handed += (await runtime.dispatcher.run_once()).originated
        await asyncio.sleep(0.02)
    return handed


async def campaign_done(store: Store, campaign_id: int) -> bool:
    async with store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
        counts = await uow.views.lead_counts(campaign_id)
    finished = all(status in TERMINAL_LEAD for status, n in counts.items() if n)
    return finished and campaign.status is CampaignStatus.COMPLETED


async def attempts_of(store: Store, campaign_id: int) -> list[dict[str, Any]]:
    """Every attempt's row, sent marker included (the domain object does not carry it)."""
    async with store.unit() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        stmt = (
            select(call_attempts)
            .where(call_attempts.c.campaign_id == campaign_id)
            .order_by(call_attempts.c.id)
        )
        return [dict(row._mapping) for row in await conn.execute(stmt)]


async def simulator_stats(sim_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sim_url) as client:
        return dict((await client.get("/_sim/stats")).json())

"""A campaign's progress: counts by state, calls live against the cap, pace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.domain.statuses import TERMINAL_LEAD, AttemptStatus, CampaignStatus, LeadStatus
from dialer.ports import Store

PACE_WINDOW = timedelta(seconds=30)


@dataclass(frozen=True)
class Progress:
    campaign_id: int
    name: str
    status: CampaignStatus
    cap: int
    leads: dict[LeadStatus, int]
    attempts: dict[AttemptStatus, int]
    live_calls: int
    calls_per_second: float  # attempts started per second of the dialer's clock, lately

    @property
    def total_leads(self) -> int:
        return sum(self.leads.values())

    @property
    def finished_leads(self) -> int:
        return sum(n for status, n in self.leads.items() if status in TERMINAL_LEAD)

    @property
    def total_attempts(self) -> int:
        return sum(self.attempts.values())


async def campaign_progress(store: Store, campaign_id: int, now: datetime) -> Progress:
    since = now - PACE_WINDOW
    async with store.unit() as uow:
        campaign = await uow.get_campaign(campaign_id)
        leads = await uow.lead_counts(campaign_id)
        attempts = await uow.attempt_counts(campaign_id)
        live = await uow.live_attempts(campaign_id)
        recent = await uow.attempts_since(campaign_id, since)
    return Progress(
        campaign_id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        cap=campaign.settings.max_concurrency,
        leads=leads,
        attempts=attempts,
        live_calls=live,
        calls_per_second=recent / PACE_WINDOW.total_seconds(),
    )


async def all_progress(store: Store, now: datetime) -> list[Progress]:
    async with store.unit() as uow:
        campaigns = await uow.campaigns_in(list(CampaignStatus))
    return [await campaign_progress(store, c.id, now) for c in campaigns]

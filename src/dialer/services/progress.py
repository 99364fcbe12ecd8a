"""A campaign's progress: counts by state, calls live against the cap, pace, why the leads
still due are waiting (see ``dialer.services.waiting``), and the messages of its SMS and email
steps, per channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialer.domain.channels import Channel
from dialer.domain.figures import ChannelFigures, channel_figures
from dialer.domain.model import Campaign
from dialer.domain.statuses import TERMINAL_LEAD, AttemptStatus, CampaignStatus, LeadStatus
from dialer.ports import Store, UnitOfWork
from dialer.services.context import Limits
from dialer.services.waiting import Lines, Waiting, explain

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
    waiting: tuple[Waiting, ...] = ()  # why the due leads are not being dialled
    at: datetime | None = None  # the instant the figures were read (for the waiting sentences)
    # per channel of its message steps (none for a campaign that only calls)
    channels: dict[Channel, ChannelFigures] = field(default_factory=dict)

    def waiting_lines(self) -> list[str]:
        now = self.at or datetime.now().astimezone()
        return [wait.message(now) for wait in self.waiting]

    @property
    def total_leads(self) -> int:
        return sum(self.leads.values())

    @property
    def finished_leads(self) -> int:
        return sum(n for status, n in self.leads.items() if status in TERMINAL_LEAD)

    @property
    def total_attempts(self) -> int:
        return sum(self.attempts.values())


async def campaign_progress(
    store: Store, campaign_id: int, now: datetime, limits: Limits | None = None
) -> Progress:
    """The figures, read in one unit of work. ``limits`` (the deployment's) lets the waiting
    reasons name a full global cap; without it only the campaign's cap is checked."""
    since = now - PACE_WINDOW
    async with store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
        leads = await uow.views.lead_counts(campaign_id)
        attempts = await uow.views.attempt_counts(campaign_id)
        live = await uow.views.live_attempts(campaign_id)
        recent = await uow.views.attempts_since(campaign_id, since)
        groups = await uow.views.waiting_groups(campaign_id, now)
        everywhere = await uow.views.live_attempts() if limits is not None else 0
        tenant_cap = (await uow.tenants.settings(campaign.tenant_id)).get("max_concurrency")
        tenant_live = (
            await uow.views.live_attempts(tenant_id=campaign.tenant_id) if tenant_cap else 0
        )
        channels = await message_figures(uow, campaign, now)
    cap = campaign.settings.max_concurrency
    global_cap = limits.global_max if limits else None
    lines = Lines(live, cap, everywhere, global_cap, tenant_live, tenant_cap)
    return Progress(
        campaign_id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        cap=cap,
        leads=leads,
        attempts=attempts,
        live_calls=live,
        calls_per_second=recent / PACE_WINDOW.total_seconds(),
        waiting=tuple(explain(campaign, groups, lines, now)),
        at=now,
        channels=channels,
    )


async def message_figures(
    uow: UnitOfWork, campaign: Campaign, now: datetime
) -> dict[Channel, ChannelFigures]:
    """The campaign's messages per channel of its steps; nothing when it has no steps."""
    steps = campaign.settings.steps
    if not steps:
        return {}
    counts = await uow.messages.counts(campaign.id)
    later = await uow.messages.due_later(campaign.id, now)
    return channel_figures((step.channel for step in steps), counts, later)


async def all_progress(store: Store, now: datetime, limits: Limits | None = None) -> list[Progress]:
    async with store.unit() as uow:
        campaigns = await uow.campaigns.in_status(list(CampaignStatus))
    return [await campaign_progress(store, c.id, now, limits) for c in campaigns]

"""What a deployment is doing now, as the metrics, the API and the dashboard report it:
calls started and ended, calls live against each cap, each campaign's callable backlog."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from dialer.domain.breaker import ProviderHealth
from dialer.domain.model import Campaign
from dialer.domain.phone import zones_of_key
from dialer.domain.statuses import AttemptStatus


@dataclass(frozen=True)
class CampaignLoad:
    campaign_id: int
    name: str
    live: int
    cap: int
    due: int = 0  # leads due now in zones whose window is open: what it could dial now


@dataclass(frozen=True)
class TenantLoad:
    tenant_id: int
    live: int
    cap: int | None  # None: no tenant cap


@dataclass(frozen=True)
class Snapshot:
    """What the store and admission say now (for one tenant, or for all)."""

    calls_started: int = 0
    calls_ended: dict[AttemptStatus, int] = field(default_factory=dict)
    calls_by_status: dict[AttemptStatus, int] = field(default_factory=dict)
    live_calls: int = 0
    global_cap: int = 0
    campaigns: tuple[CampaignLoad, ...] = ()
    providers: tuple[ProviderHealth, ...] = ()  # breaker and pacing, as the dispatchers last saw
    tenants: tuple[TenantLoad, ...] = ()  # every tenant's figures: only when read for all
    dead_letters: int = 0  # open letters: only when read for all


def open_backlog(
    campaigns: Iterable[Campaign], due: Mapping[tuple[int, str], int], now: datetime
) -> dict[int, int]:
    """Per campaign, its due leads in the zones whose calling window is open now (none while
    the campaign is before its start or past its end): the leads it could dial right now."""
    backlog = {c.id: 0 for c in campaigns}
    open_now = {c.id: c.settings.accepts_calls_at(now) for c in campaigns}
    windows = {c.id: c.settings.window for c in campaigns}
    for (campaign_id, key), count in due.items():
        if open_now[campaign_id] and windows[campaign_id].is_open(now, zones_of_key(key)):
            backlog[campaign_id] += count
    return backlog

"""Why a campaign's due leads are not being dialled, with counts and the next moment anything
can be: the calling window closed in their zone, a retry not due yet, the frequency cap or the
cool-down after a conversation, another call to the same number, the campaign paused or not
started yet, its cap full, or its pace.

The store counts the leads in one grouped query (by zone key, status, recorded reason and
due-now); this module only reads those few groups, so it is cheap enough for a live view
refreshed every second."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dialer.domain.model import Campaign
from dialer.domain.phone import zones_of_key
from dialer.domain.statuses import CampaignStatus, LeadStatus
from dialer.domain.window import zone
from dialer.ports import WaitingGroup
from dialer.services.dispatch import NUMBER_LOCK, NUMBER_POLICY, QUIET_HOURS
from dialer.services.dispatch_budgets import BUDGET_DAY


class Reason(StrEnum):
    PAUSED = "paused"  # the campaign is paused (or still a draft)
    NOT_STARTED = "not_started"  # its start_at is still ahead
    WINDOW_CLOSED = "window_closed"  # the calling window is closed in the contacts' zone
    RETRY = "retry"  # a retry not due yet
    FREQUENCY_CAP = "frequency_cap"  # the per-number frequency cap or conversation cool-down
    NUMBER_LOCK = "number_lock"  # the number was in another call (any campaign)
    QUIET_HOURS = "quiet_hours"  # the contact's own quiet hours
    BUDGET_DAY = "budget_day"  # the day's budget is spent: until the budget's next midnight
    DEFERRED = "deferred"  # put back without a recorded reason
    CAP_FULL = "cap_full"  # the campaign's or the deployment's concurrency cap is full
    PACE = "pace"  # due now, started at the pace of the ramp-up or the rate
    READY = "ready"  # due now, nothing holds them: the next ticks dial them


_RECORDED = {
    NUMBER_POLICY: Reason.FREQUENCY_CAP,
    NUMBER_LOCK: Reason.NUMBER_LOCK,
    QUIET_HOURS: Reason.QUIET_HOURS,
    BUDGET_DAY: Reason.BUDGET_DAY,
}


@dataclass(frozen=True)
class Waiting:
    """Leads held back for one reason; ``until`` is the earliest moment one of them can be
    dialled (None: not known, e.g. until someone resumes the campaign)."""

    reason: Reason
    leads: int
    until: datetime | None = None
    zone: str | None = None  # the zone key, for a closed window
    detail: str = ""  # which cap, which pace

    def message(self, now: datetime) -> str:
        return f"{_leads(self.leads)} {_SENTENCES[self.reason](self, now)}"


@dataclass(frozen=True)
class Lines:
    """The calls live against the caps the store can tell: the campaign's, the tenant's own
    (None when it has none) and the deployment's (the global cap; None when the caller does
    not know it)."""

    campaign_live: int
    campaign_cap: int
    global_live: int = 0
    global_cap: int | None = None
    tenant_live: int = 0
    tenant_cap: int | None = None  # None: the tenant has no cap of its own


def explain(
    campaign: Campaign, groups: Sequence[WaitingGroup], lines: Lines, now: datetime
) -> list[Waiting]:
    """Every due lead counted once, under the first reason that holds it."""
    later = _not_due_yet([g for g in groups if not g.due_now])
    due = [g for g in groups if g.due_now]
    held = _campaign_holds(campaign, sum(g.leads for g in due), now)
    if held is not None:
        return [held, *later]
    closed, in_open_zones = _by_window(campaign, due, now)
    return [*closed, *_open_zone_reasons(campaign, in_open_zones, lines, now), *later]


def _campaign_holds(campaign: Campaign, due: int, now: datetime) -> Waiting | None:
    if not due:
        return None
    if campaign.status in {CampaignStatus.PAUSED, CampaignStatus.DRAFT}:
        return Waiting(Reason.PAUSED, due, detail=campaign.status.value.lower())
    start = campaign.settings.start_at
    if start is not None and now < start:
        return Waiting(Reason.NOT_STARTED, due, start)
    return None


def _by_window(
    campaign: Campaign, due: Sequence[WaitingGroup], now: datetime
) -> tuple[list[Waiting], int]:
    window = campaign.settings.window
    closed: dict[str, int] = {}
    in_open_zones = 0
    for group in due:
        if window.is_open(now, zones_of_key(group.zone_key)):
            in_open_zones += group.leads
        else:
            closed[group.zone_key] = closed.get(group.zone_key, 0) + group.leads
    waits = [
        Waiting(Reason.WINDOW_CLOSED, n, window.next_open(now, zones_of_key(key)), key)
        for key, n in closed.items()
    ]
    return sorted(waits, key=_soonest), in_open_zones


def _open_zone_reasons(
    campaign: Campaign, leads: int, lines: Lines, now: datetime
) -> list[Waiting]:
    if not leads:
        return []
    if lines.campaign_live >= lines.campaign_cap:
        detail = f"campaign cap {lines.campaign_cap}"
        return [Waiting(Reason.CAP_FULL, leads, detail=detail)]
    if lines.tenant_cap is not None and lines.tenant_live >= lines.tenant_cap:
        return [Waiting(Reason.CAP_FULL, leads, detail=f"tenant cap {lines.tenant_cap}")]
    if lines.global_cap is not None and lines.global_live >= lines.global_cap:
        return [Waiting(Reason.CAP_FULL, leads, detail=f"global cap {lines.global_cap}")]
    pace = _pace(campaign, now)
    if pace is not None:
        return [pace(leads)]
    return [Waiting(Reason.READY, leads, now)]


def _pace(campaign: Campaign, now: datetime) -> _PaceOf | None:
    settings = campaign.settings
    if campaign.ramping_at(now) and settings.ramp is not None:
        ends = (campaign.updated_at or now) + timedelta(seconds=settings.ramp_up)
        detail = f"ramp-up, {settings.ramp.per_second:g} starts/s"
        return _PaceOf(detail, ends)
    if settings.pacing:
        rates = ", ".join(f"{r.per_second:g}/s" for r in settings.pacing)
        return _PaceOf(f"rate {rates}", now)
    return None


@dataclass(frozen=True)
class _PaceOf:
    detail: str
    until: datetime

    def __call__(self, leads: int) -> Waiting:
        return Waiting(Reason.PACE, leads, self.until, detail=self.detail)


def _not_due_yet(groups: Iterable[WaitingGroup]) -> list[Waiting]:
    counts: dict[Reason, tuple[int, datetime | None]] = {}
    for group in groups:
        reason = _RECORDED.get(group.waiting_on or "") or (
            Reason.RETRY if group.status is LeadStatus.WAITING_RETRY else Reason.DEFERRED
        )
        leads, until = counts.get(reason, (0, None))
        counts[reason] = (leads + group.leads, _earliest(until, group.next_at))
    waits = [Waiting(reason, n, until) for reason, (n, until) in counts.items()]
    return sorted(waits, key=_soonest)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min((t for t in (a, b) if t is not None), default=None)


def _soonest(wait: Waiting) -> tuple[bool, datetime | None, str]:
    return (wait.until is None, wait.until, wait.zone or "")


# ---------------------------------------------------------------- sentences


def _leads(n: int) -> str:
    return f"{n} lead waits" if n == 1 else f"{n} leads wait"


def in_how_long(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"in {seconds} s"
    if seconds < 3600:
        return f"in {seconds // 60} min"
    if seconds < 2 * 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"in {hours} h {minutes} min" if minutes else f"in {hours} h"
    return f"in {seconds // 86400} days"


def _at(moment: datetime, now: datetime, zone_name: str = "UTC") -> str:
    local = moment.astimezone(zone(zone_name))
    day = "" if moment - now < timedelta(hours=20) else f"{local:%a %d %b} "
    return f"{day}{local:%H:%M} {zone_name} ({in_how_long(moment - now)})"


def _until(wait: Waiting, now: datetime, zone_name: str = "UTC") -> str:
    return _at(wait.until, now, zone_name) if wait.until is not None else "an unknown time"


def _window(wait: Waiting, now: datetime) -> str:
    zones = zones_of_key(wait.zone or "UTC")
    if wait.until is None:
        return f"for their window, which never opens in {', '.join(zones)}"
    return f"for their window — next opens {_until(wait, now, zones[0])}"


_SENTENCES: dict[Reason, Callable[[Waiting, datetime], str]] = {
    Reason.PAUSED: lambda w, now: (
        "— the campaign is paused"
        if w.detail == "paused"
        else "— the campaign has not been started"
    ),
    Reason.NOT_STARTED: lambda w, now: f"for the campaign's start at {_until(w, now)}",
    Reason.WINDOW_CLOSED: _window,
    Reason.RETRY: lambda w, now: f"to be retried — next at {_until(w, now)}",
    Reason.FREQUENCY_CAP: lambda w, now: f"on the frequency cap / cool-down until {_until(w, now)}",
    Reason.NUMBER_LOCK: lambda w, now: (
        f"for another call to the same number — until {_until(w, now)}"
    ),
    Reason.QUIET_HOURS: lambda w, now: f"for the contact's quiet hours to end — {_until(w, now)}",
    Reason.BUDGET_DAY: lambda w, now: f"for the next budget day — {_until(w, now)}",
    Reason.DEFERRED: lambda w, now: f"put back — next at {_until(w, now)}",
    Reason.CAP_FULL: lambda w, now: f"for a free line: the {w.detail} is full",
    Reason.PACE: lambda w, now: f"for their turn: paced by the {w.detail}",
    Reason.READY: lambda w, now: "due now: being dialled",
}

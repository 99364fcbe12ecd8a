"""What the dashboard shows, as one JSON snapshot per tenant (and per campaign page), and the
Server-Sent Events stream that pushes it every second.

A snapshot is built at most once a second per (tenant, campaign page) however many browsers
watch, and everything in it is scoped to the tenant. Figures are formatted here, once, so the
page's first render and its live updates show the same text."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dialer.api.dashboard.spending import campaign_costs
from dialer.domain.channels import Channel
from dialer.domain.figures import ChannelFigures
from dialer.domain.model import Campaign
from dialer.domain.statuses import TERMINAL_ATTEMPT, TERMINAL_LEAD, CampaignStatus, LeadStatus
from dialer.ports import Usage
from dialer.services.context import Services
from dialer.services.progress import Progress, campaign_progress
from dialer.services.tenants import limits_from

MAX_LISTED = 500  # campaigns on the list page
INTERVAL = 1.0  # seconds between snapshots
COMPLETION_WINDOW = 30.0  # seconds of history behind the completion rate
MIN_RATE_SPAN = 2.0  # seconds of history before a rate is worth showing
OUTCOMES = [s.value for s in sorted(TERMINAL_ATTEMPT)]
OPEN_LEADS = (LeadStatus.PENDING, LeadStatus.WAITING_RETRY, LeadStatus.DIALING)


def duration_text(seconds: float | None) -> str:
    """``—`` when unknown; else like ``45s``, ``3m 05s``, ``2h 07m``."""
    if seconds is None:
        return "—"
    whole = math.ceil(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def cap_text(cap: int | None) -> str:
    return "no cap" if cap is None else str(cap)


@dataclass
class CompletionRates:
    """Finished leads per second, from the counts this process has seen lately (on the
    dialer's clock). Kept per campaign while someone watches; unknown until two samples are
    ``MIN_RATE_SPAN`` apart."""

    samples: dict[int, deque[tuple[float, int]]] = field(default_factory=dict)

    def record(self, campaign_id: int, at: float, finished: int) -> None:
        history = self.samples.setdefault(campaign_id, deque())
        history.append((at, finished))
        while history and at - history[0][0] > COMPLETION_WINDOW:
            history.popleft()

    def rate(self, campaign_id: int) -> float | None:
        measured = self.measured(campaign_id)
        return measured.per_second if measured is not None else None

    def measured(self, campaign_id: int) -> Rate | None:
        """The rate and the span of history it was measured over (up to the window)."""
        history = self.samples.get(campaign_id)
        if not history:
            return None
        (first_at, first), (last_at, last) = history[0], history[-1]
        span = last_at - first_at
        return Rate((last - first) / span, span) if span >= MIN_RATE_SPAN else None


@dataclass(frozen=True)
class Rate:
    per_second: float
    over_seconds: float  # the history it was measured over


def pace(
    status: CampaignStatus, remaining: int, calls_per_second: float, completion: Rate | None
) -> dict[str, Any]:
    """The pace figures of a campaign page, each with the window it was measured over.

    Calls started per second and leads finished per second are different figures (a lead may
    need several calls; a call started before the window may finish inside it; a lead may
    end without a call), so both are shown, and the ETA is computed only from what is shown
    beside it: remaining leads over the leads finished per second, as displayed."""
    per_second = completion.per_second if completion is not None else None
    over = completion.over_seconds if completion is not None else None
    shown = round(per_second, 2) if per_second is not None else None
    window = "not measured yet" if over is None else f"last {math.floor(over)} s"
    eta = eta_seconds(status, remaining, shown)
    return {
        "numbers": {
            "calls_per_second": calls_per_second,
            "completions_per_second": per_second,
            "completion_window_seconds": over,
            "eta_seconds": eta,
        },
        "text": {
            "rate": f"{calls_per_second:.2f}",
            "completion": "—" if shown is None else f"{shown:.2f}",
            "completion-window": window,
            "eta": duration_text(eta),
        },
    }


def eta_seconds(status: CampaignStatus, remaining: int, rate: float | None) -> float | None:
    """Remaining leads over the recent completion rate; None (unknown) while the campaign is
    not running or nothing has finished lately."""
    if remaining == 0:
        return 0.0
    if status is not CampaignStatus.RUNNING or not rate or rate <= 0:
        return None
    return remaining / rate


def _finished(leads: dict[LeadStatus, int]) -> int:
    return sum(n for status, n in leads.items() if status in TERMINAL_LEAD)


def _row(campaign: Campaign, leads: dict[LeadStatus, int], usage: Usage) -> dict[str, Any]:
    total, done = sum(leads.values()), _finished(leads)
    live, cap = usage.by_campaign.get(campaign.id, 0), campaign.settings.max_concurrency
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status.value,
        "total": total,
        "done": done,
        "live": live,
        "cap": cap,
        "progress_text": f"{done} / {total}",
        "live_text": f"{live} / {cap}",
    }


def _outcomes(progress: Progress) -> list[dict[str, Any]]:
    counts = {s.value: n for s, n in progress.attempts.items()}
    largest = max([counts.get(name, 0) for name in OUTCOMES] + [1])
    return [
        {"name": name, "count": counts.get(name, 0), "share": counts.get(name, 0) / largest}
        for name in OUTCOMES
    ]


def _channels(channels: dict[Channel, ChannelFigures]) -> list[dict[str, Any]]:
    """Per channel of the campaign's steps, its messages in the words of CHANNEL_WORDS."""
    return [
        {"channel": channel.value, "label": channel.value.upper(), **figures.words()}
        for channel, figures in channels.items()
    ]


def _channel_text(channels: dict[Channel, ChannelFigures]) -> dict[str, str]:
    """The same as the page's live fields: ``sms-delivered`` ..."""
    return {
        f"{channel.value}-{word}": str(count)
        for channel, figures in channels.items()
        for word, count in figures.words().items()
    }


class Snapshots:
    """Builds the snapshots from the store and admission, for one tenant at a time."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.rates = CompletionRates()

    def _now(self) -> float:
        return self.services.clock.now().timestamp()

    async def tenant_cap(self, tenant_id: int) -> int | None:
        async with self.services.store.unit() as uow:
            values = await uow.tenants.settings(tenant_id)
        cap = limits_from(values).max_concurrency
        return cap if cap is not None else self.services.limits.tenant_max

    async def build(self, tenant_id: int, campaign_id: int | None = None) -> dict[str, Any]:
        services = self.services
        usage = await services.admission.usage()
        rows = []
        async with services.store.unit() as uow:
            campaigns = await uow.campaigns.of_tenant(tenant_id, 0, MAX_LISTED)
            for campaign in campaigns:
                rows.append(_row(campaign, await uow.views.lead_counts(campaign.id), usage))
        now = self._now()
        for row in rows:
            self.rates.record(row["id"], now, row["done"])
        tenant_cap = await self.tenant_cap(tenant_id)
        snapshot: dict[str, Any] = {
            "at": services.clock.now().isoformat(),
            "campaigns": rows,
            "more_campaigns": len(rows) == MAX_LISTED,
            "tenant": {"live": usage.by_tenant.get(tenant_id, 0), "cap": tenant_cap},
            "global": {"live": usage.global_active, "cap": services.limits.global_max},
        }
        shown = next((c for c in campaigns if c.id == campaign_id), None)
        if shown is not None:
            snapshot["campaign"] = await self._detail(shown, usage, snapshot)
        return snapshot

    async def _detail(
        self, campaign: Campaign, usage: Usage, snapshot: dict[str, Any]
    ) -> dict[str, Any]:
        campaign_id, now = campaign.id, self.services.clock.now()
        progress = await campaign_progress(
            self.services.store, campaign_id, now, self.services.limits
        )
        remaining = sum(progress.leads.get(s, 0) for s in OPEN_LEADS)
        completion = self.rates.measured(campaign_id)
        figures = pace(progress.status, remaining, progress.calls_per_second, completion)
        live = usage.by_campaign.get(campaign_id, 0)
        async with self.services.store.unit() as uow:
            unsent = await uow.views.unsent_attempt_count(campaign_id)
        money = await campaign_costs(self.services, campaign, now)
        tenant, world = snapshot["tenant"], snapshot["global"]
        return {
            "id": campaign_id,
            "name": progress.name,
            "status": progress.status.value,
            "total": progress.total_leads,
            "done": progress.finished_leads,
            "remaining": remaining,
            "caps": {
                "campaign": {"live": live, "cap": progress.cap},
                "tenant": tenant,
                "global": world,
            },
            # admitted, their capacity held, not yet sent: waiting for a pre-dial hook or a slot
            "unsent": unsent,
            **figures["numbers"],
            "outcomes": _outcomes(progress),
            "waiting": progress.waiting_lines(),  # why the due leads are not dialled
            "leads": {s.value: n for s, n in progress.leads.items()},
            "channels": _channels(progress.channels),  # none for a campaign without steps
            "costs": money,  # so far, today, per channel, and against its budget
            "meters": money["meters"],
            "text": {
                "status": progress.status.value,
                "progress": f"{progress.finished_leads} / {progress.total_leads}",
                "remaining": str(remaining),
                "live-campaign": str(live),
                "cap-campaign": cap_text(progress.cap),
                "unsent-campaign": str(unsent),
                "live-tenant": str(tenant["live"]),
                "cap-tenant": cap_text(tenant["cap"]),
                "live-global": str(world["live"]),
                "cap-global": cap_text(world["cap"]),
                **figures["text"],
                **_channel_text(progress.channels),
                **money["text"],
            },
        }


@dataclass(frozen=True)
class _Cached:
    built_at: float
    snapshot: dict[str, Any]


class LiveFeed:
    """Snapshots shared by every open stream (at most one build per key and interval), and
    the streams themselves. ``close()`` ends every stream: the server calls it when it stops,
    or open event streams would keep it waiting for ever."""

    def __init__(self, services: Services, interval: float = INTERVAL) -> None:
        self.snapshots = Snapshots(services)
        self.interval = interval
        self.open_streams = 0
        self._closing = asyncio.Event()
        self._cache: dict[tuple[int, int | None], _Cached] = {}
        self._locks: dict[tuple[int, int | None], asyncio.Lock] = {}

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    def close(self) -> None:
        self._closing.set()

    async def snapshot(self, tenant_id: int, campaign_id: int | None = None) -> dict[str, Any]:
        key = (tenant_id, campaign_id)
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._cache.get(key)
            if cached is None or time.monotonic() - cached.built_at >= self.interval * 0.9:
                snapshot = await self.snapshots.build(tenant_id, campaign_id)
                cached = self._cache[key] = _Cached(time.monotonic(), snapshot)
            return cached.snapshot

    async def stream(
        self,
        tenant_id: int,
        campaign_id: int | None,
        still_signed_in: Callable[[], Awaitable[bool]],
    ) -> AsyncIterator[str]:
        """``snapshot`` events until the client goes away (the response is cancelled), the
        server stops (``close``), or the session ends (a ``signed-out`` event, then the end)."""
        self.open_streams += 1
        try:
            yield f"retry: {int(self.interval * 2000)}\n\n"
            while not self.closed:
                if not await still_signed_in():
                    yield "event: signed-out\ndata: {}\n\n"
                    return
                snapshot = await self.snapshot(tenant_id, campaign_id)
                yield f"event: snapshot\ndata: {json.dumps(snapshot)}\n\n"
                await self._pause()
        finally:
            self.open_streams -= 1
            self._forget_idle()

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.interval):
                await self._closing.wait()

    def _forget_idle(self) -> None:
        """Drop cached snapshots (and rate history) nobody has asked for in a while."""
        stale = time.monotonic() - 60 * self.interval
        for key in [k for k, c in self._cache.items() if c.built_at < stale]:
            del self._cache[key]
            self._locks.pop(key, None)
        if self.open_streams == 0:
            self.snapshots.rates.samples.clear()

"""Calls outside campaigns (``POST /v1/calls``): accepted at once, paced like any other call.

Each tenant has standing "API queue" campaigns, one per caller ID, answer URL and calling
window, created RUNNING on first use with no retries. A requested call becomes a lead of its
queue, so the ordinary dispatcher dials it under every cap (global, tenant, campaign,
per-number lock, rates, do-not-call, number policy) and only inside the queue's window in the
contact's own time zone (the tenant's calling hours every day — by default the campaigns'
08:00-21:00 — unless the request names a window inside them): a request is never refused for
capacity or the hour, it waits its turn. Only a window outside the tenant's calling hours, or
one that never opens for the contact, is refused. A tenant's backlog past
DIALER_API_MAX_PENDING_CALLS is refused too, so callers slow down instead of queueing without
bound; its Retry-After is the time the backlog needs to drain at the pace measured over the
last minute.

The dispatcher completes a running campaign when it has nothing left to call. A queue is a
campaign that runs dry often, so a new call reopens it (COMPLETED -> RUNNING, which only
queues may do). A call queued in the instant the dispatcher is completing the queue is
caught by ``reopen_stranded``, run after every request and periodically by ``dialer
serve``.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialer.domain.model import Campaign, CampaignSettings, Lead
from dialer.domain.phone import InvalidNumber, normalize, zone_key, zones_for, zones_of_key
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import CampaignStatus
from dialer.domain.window import CallingWindow, TimeRange, format_ranges
from dialer.errors import DialerError, Problem
from dialer.observability import tracing
from dialer.ports import ContactDraft, UnitOfWork
from dialer.services.campaigns import answer_url_problem
from dialer.services.context import Services
from dialer.services.safety import policy_for

DEFAULT_ZONE = "America/New_York"  # for numbers whose zone the number does not tell
QUEUE_RAMP_UP = 10  # seconds: the queue's cap fills over this long after it (re)opens
MAX_RETRY_AFTER = 600
DRAIN_WINDOW = 60  # seconds: the backlog's drain rate is measured over this last stretch
STALLED_RETRY_AFTER = 60  # seconds: nothing drains, so no pace to go by; ask for a minute
NOT_DRAINING = f"no call has been started in the last {DRAIN_WINDOW} s: is a dispatcher running?"


@dataclass(frozen=True)
class CallOrder:
    """One requested call, as the client wrote it."""

    to: str
    caller_id: str
    answer_url: str | None = None
    name: str | None = None
    timezone: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    # None: the tenant's calling hours, every day; else a window inside those hours.
    window: CallingWindow | None = None


@dataclass(frozen=True)
class QueuedCall:
    index: int
    lead: Lead
    campaign_id: int
    queued: bool  # False: this number was already waiting in the queue; it is not added twice
    not_before: datetime  # now, or when the contact's calling window next opens


@dataclass(frozen=True)
class RefusedCall:
    index: int
    problem: Problem


@dataclass
class Queueing:
    queued: list[QueuedCall] = field(default_factory=list)
    refused: list[RefusedCall] = field(default_factory=list)

    @property
    def campaign_ids(self) -> set[int]:
        return {q.campaign_id for q in self.queued}


@dataclass
class BacklogCounts:
    """Each tenant's backlog as last counted. Counting a large queue on every request would
    cost more than the request itself, so a count is reused for ``ttl`` seconds (plus what
    this process added since) while it is clearly under the limit; near the limit every
    request counts afresh, so the guard is exact where it matters."""

    ttl: float = 1.0
    near: float = 0.9  # re-count when the estimate passes this share of the limit
    _seen: dict[int, tuple[float, int]] = field(default_factory=dict)

    async def pending(self, uow: UnitOfWork, tenant_id: int, adding: int, limit: int) -> int:
        now = time.monotonic()
        counted_at, count = self._seen.get(tenant_id, (-math.inf, 0))
        if now - counted_at < self.ttl and count + adding <= limit * self.near:
            return count
        campaigns = await uow.campaigns.queues(tenant_id)
        count = await uow.views.open_leads_in(campaigns, limit + 1)
        self._seen[tenant_id] = (now, count)
        return count

    def added(self, tenant_id: int, n: int) -> None:
        if tenant_id in self._seen:
            counted_at, count = self._seen[tenant_id]
            self._seen[tenant_id] = (counted_at, count + n)


@dataclass(frozen=True)
class QueueLimits:
    """From settings: the tenant's backlog limit, and each queue's concurrency cap."""

    max_pending: int
    cap: int
    backlog: BacklogCounts = field(default_factory=BacklogCounts)


class Backlogged(DialerError):
    """The tenant's queued calls are past the API's limit: try again after ``retry_after``."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Valid:
    index: int
    order: CallOrder
    draft: ContactDraft
    caller_id: str
    window: CallingWindow
    not_before: datetime


def answer_key(answer_url: str | None, window: CallingWindow) -> str:
    """The queue's key besides its caller ID: its answer URL and its window (the dispatcher
    applies a campaign's window to all its leads, so each window has its own queue)."""
    return hashlib.sha256(f"{answer_url or ''}\n{window.key()}".encode()).hexdigest()


def queue_settings(
    caller_id: str, answer_url: str | None, window: CallingWindow, cap: int
) -> CampaignSettings:
    custom = answer_url or window != CallingWindow.default()
    suffix = f" ({answer_key(answer_url, window)[:8]})" if custom else ""
    return CampaignSettings(
        name=f"api calls from {caller_id}{suffix}",
        caller_id=caller_id,
        max_concurrency=cap,
        window=window,
        retry=RetryPolicy(max_attempts=1),
        answer_url=answer_url,
        ramp_up=QUEUE_RAMP_UP,
    )


def _draft(order: CallOrder, where: str, allow_vanity: bool) -> tuple[ContactDraft, str]:
    try:
        phone = normalize(order.to, allow_vanity=allow_vanity)
    except InvalidNumber as exc:
        raise ValueError(f"{where}.to: {exc}") from exc
    try:
        caller_id = normalize(order.caller_id)
    except InvalidNumber as exc:
        raise ValueError(f"{where}.caller_id: {exc}") from exc
    if order.timezone:
        try:
            ZoneInfo(order.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{where}.timezone: unknown time zone {order.timezone!r}") from exc
    zones = (order.timezone,) if order.timezone else zones_for(phone, DEFAULT_ZONE)
    draft = ContactDraft(
        phone=phone,
        zone_key=zone_key(zones),
        name=order.name,
        timezone=order.timezone,
        attributes=dict(order.attributes),
    )
    return draft, caller_id


def _validate(
    orders: Sequence[CallOrder], prefix: str, services: Services, hours: Sequence[TimeRange]
) -> tuple[list[_Valid], list[RefusedCall]]:
    now, limits = services.clock.now(), services.limits
    valid: list[_Valid] = []
    refused: list[RefusedCall] = []
    first: dict[str, int] = {}
    for index, order in enumerate(orders):
        where = f"{prefix}[{index}]" if prefix else "body"
        try:
            draft, caller_id = _draft(order, where, services.allow_vanity_numbers)
            window = _window(order, hours, where)
            opens = _window_opens(order, window, draft, where, now)
        except ValueError as exc:
            location, _, message = str(exc).partition(": ")
            refused.append(RefusedCall(index, Problem(location, message)))
            continue
        if problem := answer_url_problem(order.answer_url, limits, f"{where}.answer_url"):
            refused.append(RefusedCall(index, problem))
            continue
        if (seen := first.setdefault(draft.phone, index)) != index:
            problem = Problem(f"{where}.to", f"the same number as {prefix}[{seen}]")
            refused.append(RefusedCall(index, problem))
            continue
        valid.append(_Valid(index, order, draft, caller_id, window, opens))
    return valid, refused


def _window(order: CallOrder, hours: Sequence[TimeRange], where: str) -> CallingWindow:
    """The call's window: the tenant's calling hours every day, or the one asked for if it
    keeps within them (ValueError naming the ranges that do not)."""
    if order.window is None:
        return CallingWindow.every_day(hours)
    if outside := order.window.outside(hours):
        raise ValueError(
            f"{where}.window: {', '.join(outside)} is outside the tenant's calling hours "
            f"({format_ranges(hours)}, PUT /v1/policy calling_hours)"
        )
    return order.window


def _window_opens(
    order: CallOrder, window: CallingWindow, draft: ContactDraft, where: str, now: datetime
) -> datetime:
    """When the call may first be dialled: now if the window is open in every zone of the
    contact, else when it next opens; ValueError when it never does."""
    zones = zones_of_key(draft.zone_key)
    opens = window.next_open(now, zones)
    if opens is None:
        field_name = "window" if order.window is not None else "to"
        raise ValueError(
            f"{where}.{field_name}: the calling window never opens in the contact's time "
            f"zone ({', '.join(zones)})"
        )
    return opens


async def _check_backlog(
    uow: UnitOfWork, tenant_id: int, adding: int, limits: QueueLimits, now: datetime
) -> None:
    """Approximate under concurrent requests (each counts before the others commit): the
    limit protects the database from unbounded queues; exactness is the caps' job."""
    pending = await limits.backlog.pending(uow, tenant_id, adding, limits.max_pending)
    excess = pending + adding - limits.max_pending
    if excess > 0:
        message = (
            f"{pending} calls are waiting to be dialled; the limit is {limits.max_pending} "
            "(DIALER_API_MAX_PENDING_CALLS)"
        )
        started = await _recently_started(uow, tenant_id, now)
        if started == 0:
            raise Backlogged(f"{message}; {NOT_DRAINING}", STALLED_RETRY_AFTER)
        raise Backlogged(message, _time_to_drain(excess, started))


async def _recently_started(uow: UnitOfWork, tenant_id: int, now: datetime) -> int:
    """Calls of the tenant's API queues started (attempts created) in the last minute."""
    since = now - timedelta(seconds=DRAIN_WINDOW)
    started = 0
    for campaign_id in await uow.campaigns.queues(tenant_id):
        started += await uow.views.attempts_since(campaign_id, since)
    return started


def _time_to_drain(excess: int, started: int) -> int:
    """Seconds the queues need, at the pace measured over the last minute, to bring the
    backlog under the limit."""
    per_second = started / DRAIN_WINDOW
    return min(MAX_RETRY_AFTER, max(1, math.ceil(excess / per_second)))


async def queue_campaign(
    uow: UnitOfWork,
    services: Services,
    tenant_id: int,
    caller_id: str,
    answer_url: str | None,
    window: CallingWindow,
    cap: int,
) -> Campaign:
    """The tenant's queue for this caller ID, answer URL and window, created or reopened as
    needed."""
    now, key = services.clock.now(), answer_key(answer_url, window)
    current = await uow.campaigns.queue_for(tenant_id, caller_id, key)
    if current is not None:
        campaign = await uow.campaigns.get(current)
        if campaign.status is CampaignStatus.COMPLETED and await uow.campaigns.reopen(current, now):
            campaign.status, campaign.version = CampaignStatus.RUNNING, campaign.version + 1
        if campaign.status is not CampaignStatus.CANCELLED:
            return campaign
    # No queue yet, or its operator cancelled it: start a new one.
    settings = queue_settings(caller_id, answer_url, window, cap)
    fresh = await uow.campaigns.add(tenant_id, settings, now)
    fresh.move_to(CampaignStatus.RUNNING)
    await uow.campaigns.save_status(fresh, now)
    winner = await uow.campaigns.set_queue(tenant_id, caller_id, key, fresh.id, current)
    if winner == fresh.id:
        return fresh
    fresh.move_to(CampaignStatus.CANCELLED)  # another request created the queue first
    await uow.campaigns.save_status(fresh, now)
    return await uow.campaigns.get(winner)


async def queue_calls(
    uow: UnitOfWork,
    services: Services,
    tenant_id: int,
    orders: Sequence[CallOrder],
    limits: QueueLimits,
    *,
    prefix: str = "calls",
) -> Queueing:
    """Queue the calls in this transaction (the caller commits). Bad numbers, repeats and
    numbers on a do-not-call list are refused one by one; Backlogged refuses them all."""
    policy = await policy_for(uow, tenant_id, services.limits.number_policy)
    valid, refused = _validate(orders, prefix, services, policy.calling_hours)
    result = Queueing(refused=refused)
    if not valid:
        return result
    await _check_backlog(uow, tenant_id, len(valid), limits, services.clock.now())
    listed = await uow.do_not_call.listed(tenant_id, [v.draft.phone for v in valid])
    for item in valid:
        if item.draft.phone in listed:
            where = f"{prefix}[{item.index}].to" if prefix else "body.to"
            result.refused.append(RefusedCall(item.index, Problem(where, "on a do-not-call list")))
    groups: dict[tuple[str, str | None, CallingWindow], list[_Valid]] = {}
    for item in valid:
        if item.draft.phone not in listed:
            queue = (item.caller_id, item.order.answer_url, item.window)
            groups.setdefault(queue, []).append(item)
    for (caller_id, answer_url, window), items in groups.items():
        campaign = await queue_campaign(
            uow, services, tenant_id, caller_id, answer_url, window, limits.cap
        )
        result.queued += await _queue_group(uow, services, tenant_id, campaign, items)
    limits.backlog.added(tenant_id, sum(q.queued for q in result.queued))
    result.queued.sort(key=lambda q: q.index)
    result.refused.sort(key=lambda r: r.index)
    return result


async def _queue_group(
    uow: UnitOfWork,
    services: Services,
    tenant_id: int,
    campaign: Campaign,
    items: list[_Valid],
) -> list[QueuedCall]:
    now = services.clock.now()
    drafts = [item.draft for item in items]
    contact_ids = await uow.contacts.upsert(tenant_id, drafts, now)
    leads = await uow.leads.queue(campaign, list(zip(contact_ids, drafts, strict=True)), now)
    traceparent = tracing.current_traceparent()
    if traceparent is not None:  # the call's dispatch continues the request's trace
        await uow.leads.trace([lead.id for lead, queued in leads if queued], traceparent)
    return [
        QueuedCall(item.index, lead, campaign.id, queued, item.not_before)
        for item, (lead, queued) in zip(items, leads, strict=True)
    ]


async def reopen_stranded(services: Services, campaign_ids: Sequence[int] | None = None) -> int:
    """Reopen queues the dispatcher completed while a call was being added to them."""
    now = services.clock.now()
    async with services.store.unit() as uow:
        ids = await uow.campaigns.queues(None) if campaign_ids is None else list(campaign_ids)
        stranded = await uow.campaigns.stranded(ids)
        for campaign_id in stranded:
            await uow.campaigns.reopen(campaign_id, now)
        await uow.commit()
    return len(stranded)

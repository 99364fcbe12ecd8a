"""What a deployment is doing now, as the metrics, the API and the dashboard report it:
calls started and ended, calls live against each cap, each campaign's callable backlog, and
the messages of its SMS and email steps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from dialer.domain.breaker import ProviderHealth
from dialer.domain.channels import Channel
from dialer.domain.model import Campaign
from dialer.domain.phone import zones_of_key
from dialer.domain.statuses import AttemptStatus, MessageStatus

_M = MessageStatus
# What operators read of a channel's messages, each status under one word.
SENT_STATUSES = (_M.SENDING, _M.QUEUED, _M.SENT)  # left (or leaving), no receipt yet
FAILED_STATUSES = (_M.UNDELIVERED, _M.FAILED)  # refused, bounced, or never left
SKIPPED_STATUSES = (_M.SKIPPED, _M.CANCELLED)  # never sent on purpose
CHANNEL_WORDS = ("waiting", "pending", "sent", "delivered", "failed", "skipped", "total")


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
    messages: dict[tuple[Channel, MessageStatus], int] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelFigures:
    """One channel's messages in a campaign: by status, and summed into the words operators
    read (every message counted under exactly one of waiting, pending, sent, delivered,
    failed and skipped)."""

    channel: Channel
    statuses: dict[MessageStatus, int] = field(default_factory=dict)
    due_later: int = 0  # PENDING ones not due yet: a step's ``after``, a closed window

    def _sum(self, statuses: Iterable[MessageStatus]) -> int:
        return sum(self.statuses.get(s, 0) for s in statuses)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def waiting(self) -> int:
        return min(self.due_later, self.statuses.get(_M.PENDING, 0))

    @property
    def pending(self) -> int:
        """Due now: the next ticks send them (within the window, rates and caps)."""
        return self.statuses.get(_M.PENDING, 0) - self.waiting

    @property
    def sent(self) -> int:
        return self._sum(SENT_STATUSES)

    @property
    def delivered(self) -> int:
        return self.statuses.get(_M.DELIVERED, 0)

    @property
    def failed(self) -> int:
        return self._sum(FAILED_STATUSES)

    @property
    def skipped(self) -> int:
        return self._sum(SKIPPED_STATUSES)

    def words(self) -> dict[str, int]:
        """Each of CHANNEL_WORDS and its count, in that order."""
        return {word: getattr(self, word) for word in CHANNEL_WORDS}


def channel_figures(
    channels: Iterable[Channel],
    counts: Mapping[tuple[Channel, MessageStatus], int],
    due_later: Mapping[Channel, int],
) -> dict[Channel, ChannelFigures]:
    """Per channel (those of the campaign's steps, in step order), its figures."""
    return {
        channel: ChannelFigures(
            channel,
            {s: n for (c, s), n in counts.items() if c is channel},
            due_later.get(channel, 0),
        )
        for channel in dict.fromkeys(channels)
    }


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

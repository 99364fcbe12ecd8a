"""Entities: tenants, campaigns, contacts, leads and call attempts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialer.domain.budgets import Budget
from dialer.domain.channels import MessageStep
from dialer.domain.machines import AnsweredBy, MachineDetection
from dialer.domain.pre_dial import PreDialHook
from dialer.domain.rates import Rate as Rate  # re-exported: the settings speak of rates
from dialer.domain.rates import Rates as Rates
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import (
    TERMINAL_ATTEMPT,
    TERMINAL_LEAD,
    AttemptStatus,
    CampaignStatus,
    LeadStatus,
    can_move_campaign,
    can_move_lead,
)
from dialer.domain.window import CallingWindow, TimeRange
from dialer.errors import Conflict

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class ScopeLimits:
    """A cap and start rates for one scope (the whole deployment, or one tenant)."""

    max_concurrency: int | None = None
    rates: Rates = ()
    budget: Budget | None = None  # the tenant's: over all its campaigns' calls


@dataclass(frozen=True)
class CampaignSettings:
    """Everything an operator configures about a campaign (the campaign file's content)."""

    name: str
    caller_id: str
    max_concurrency: int = 100
    rate: Rate | None = None
    window: CallingWindow = field(default_factory=CallingWindow.always)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    priority: int = 5
    ring_timeout: int = 30  # seconds the phone may ring before it counts as no answer
    max_call_duration: int = 480  # sent as the call's time limit; bounds every lease
    default_timezone: str = "America/New_York"  # for numbers whose zone cannot be derived
    answer_url: str | None = None  # where the provider fetches what to do once answered
    # answering-machine detection, and the voicemail left after the beep (None: no detection)
    machine_detection: MachineDetection | None = None
    start_at: datetime | None = None  # no call before this instant
    end_at: datetime | None = None  # no call from this instant on; the rest are skipped
    tags: tuple[str, ...] = ()  # the segment: only contacts with one of these tags (all if empty)
    rate_per_minute: Rate | None = None
    rate_per_hour: Rate | None = None
    ramp_up: int = 10  # seconds the cap fills over after a start, when no rate is set (0: at once)
    weight: int = 1  # share of free capacity against campaigns of the same priority
    # caller-ID pool, rotated per attempt; local_presence prefers the contact's area
    caller_ids: tuple[str, ...] = ()
    local_presence: bool = False
    # the message steps after the call step, in order (empty: the campaign only calls)
    steps: tuple[MessageStep, ...] = ()
    pre_dial: PreDialHook | None = None  # asked after admission, before each call's create
    budget: Budget | None = None  # the most its calls may cost, in all and per day

    @property
    def pacing(self) -> Rates:
        """The operator's sustained start rates: per second, per minute and per hour."""
        return tuple(r for r in (self.rate, self.rate_per_minute, self.rate_per_hour) if r)

    @property
    def ramp(self) -> Rate | None:
        """The start rate while the cap fills from idle, when no per-second rate is set: the
        cap over ``ramp_up`` seconds, so a start on thousands of due leads is not one burst."""
        if self.rate is not None or not self.ramp_up:
            return None
        return Rate(self.max_concurrency / self.ramp_up, max(1, self.max_concurrency // 10))

    def in_segment(self, contact_tags: tuple[str, ...]) -> bool:
        return not self.tags or bool(set(self.tags) & set(contact_tags))

    def accepts_calls_at(self, instant: datetime) -> bool:
        started = self.start_at is None or instant >= self.start_at
        return started and (self.end_at is None or instant < self.end_at)


@dataclass
class Campaign:
    id: int
    tenant_id: int
    settings: CampaignSettings
    status: CampaignStatus = CampaignStatus.DRAFT
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None  # its last start, resume, pause or change of settings

    @property
    def name(self) -> str:
        return self.settings.name

    def ramping_at(self, now: datetime) -> bool:
        """True during the first ``ramp_up`` seconds after the campaign was last started,
        resumed or changed: the ramp paces its starts then, and its cap alone afterwards.
        Every dispatcher reads the same instant from the store, so they agree on it."""
        if self.settings.ramp is None:
            return False
        if self.updated_at is None:
            return True  # never recorded: pace as if it had just started
        return now < self.updated_at + timedelta(seconds=self.settings.ramp_up)

    def pacing_at(self, now: datetime) -> Rates:
        """The start rates in force at ``now``. The ramp comes last: admission keys each
        limiter by its position, so the others keep theirs when the ramp ends."""
        ramp = self.settings.ramp
        return self.settings.pacing + ((ramp,) if ramp and self.ramping_at(now) else ())

    def move_to(self, target: CampaignStatus) -> None:
        if not can_move_campaign(self.status, target):
            raise Conflict(f"campaign {self.id} is {self.status}; it cannot become {target}")
        self.status = target


@dataclass
class Contact:
    id: int
    tenant_id: int
    phone: str  # E.164
    name: str | None = None
    timezone: str | None = None  # operator's override; else derived from the number
    tags: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    version: int = 1


@dataclass
class Lead:
    """A contact in a campaign: the unit the dialer schedules, retries and finishes."""

    id: int
    campaign_id: int
    contact_id: int
    phone: str
    zone_key: str  # '|'-joined IANA zones the calling window must be open in
    status: LeadStatus = LeadStatus.PENDING
    attempts: int = 0  # attempts that reached (or may have reached) the provider
    next_attempt_at: datetime | None = None
    last_attempt_id: int | None = None
    version: int = 1
    quiet_hours: tuple[TimeRange, ...] = ()  # the contact's own do-not-disturb, local time
    traceparent: str | None = None  # W3C trace context of the request that queued it

    def window(self, campaign_window: CallingWindow) -> CallingWindow:
        """When this lead may be called: the campaign's window less the contact's quiet hours."""
        return campaign_window.without(self.quiet_hours)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_LEAD

    def move_to(self, target: LeadStatus) -> None:
        """Change status by the transition table (``LEAD_TRANSITIONS``): an ended lead never
        moves again, and a lead is dialled only from PENDING or WAITING_RETRY."""
        if not can_move_lead(self.status, target):
            raise Conflict(f"lead {self.id} is {self.status}; it cannot become {target}")
        self.status = target


@dataclass
class CallAttempt:
    id: int
    lead_id: int
    campaign_id: int
    tenant_id: int
    number: int  # 1 for the first attempt of its lead
    phone: str
    caller_id: str
    status: AttemptStatus = AttemptStatus.QUEUED
    lease_id: str = ""
    lease_expires_at: datetime | None = None
    provider_call_id: str | None = None
    created_at: datetime | None = None
    initiated_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration: int | None = None
    hangup_cause: str | None = None
    traceparent: str | None = None  # W3C trace context of its dispatch: later spans' parent
    answered_by: AnsweredBy | None = None  # what answering-machine detection found

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_ATTEMPT

    @property
    def was_answered(self) -> bool:
        return self.answered_at is not None

"""Entities: tenants, campaigns, contacts, leads and call attempts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import (
    TERMINAL_ATTEMPT,
    TERMINAL_LEAD,
    AttemptStatus,
    CampaignStatus,
    LeadStatus,
    can_move_campaign,
)
from dialer.domain.window import CallingWindow
from dialer.errors import Conflict

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Rate:
    """Calls per second with a burst: the most calls that may start back to back."""

    per_second: float
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second


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


@dataclass
class Campaign:
    id: int
    tenant_id: int
    settings: CampaignSettings
    status: CampaignStatus = CampaignStatus.DRAFT
    version: int = 1
    created_at: datetime | None = None

    @property
    def name(self) -> str:
        return self.settings.name

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

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_LEAD


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

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_ATTEMPT

    @property
    def was_answered(self) -> bool:
        return self.answered_at is not None

"""The ports: what the services need from the outside world, as Protocols.

Adapters implement them: the store (SQLAlchemy on SQLite or PostgreSQL), admission (in-process
or Redis), telephony (Twilio-compatible REST, ...), the executor (inline asyncio or Celery) and
the clock (wall clock, or a scaled one for simulated time).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from dialer.domain.model import CallAttempt, Campaign, CampaignSettings, Contact, Lead, Rate
from dialer.domain.safety import NumberHistory
from dialer.domain.statuses import AttemptStatus, CallProgress, CampaignStatus, LeadStatus
from dialer.domain.window import TimeRange

# ---------------------------------------------------------------- clock


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait this many seconds of this clock's time."""
        ...


# ---------------------------------------------------------------- admission


class Limit(StrEnum):
    """Which limit refused an admission: the dispatcher backs off precisely on it."""

    GLOBAL_CAP = "global_cap"
    TENANT_CAP = "tenant_cap"
    CAMPAIGN_CAP = "campaign_cap"
    NUMBER_BUSY = "number_busy"
    GLOBAL_RATE = "global_rate"
    TENANT_RATE = "tenant_rate"
    CAMPAIGN_RATE = "campaign_rate"


CAMPAIGN_WIDE_LIMITS = frozenset(set(Limit) - {Limit.NUMBER_BUSY})


@dataclass(frozen=True)
class Scope:
    """The limits one campaign's calls are admitted under."""

    tenant_id: int
    campaign_id: int
    global_max: int
    campaign_max: int
    tenant_max: int | None = None
    campaign_rate: Rate | None = None
    tenant_rate: Rate | None = None
    global_rate: Rate | None = None


@dataclass(frozen=True)
class Lease:
    """One admitted call's hold on every limit; released when the call ends, or expires."""

    id: str
    tenant_id: int
    campaign_id: int
    phone: str
    expires_at: float  # seconds since the epoch, on the admission backend's clock


@dataclass(frozen=True)
class AdmissionResult:
    admitted: bool
    lease: Lease | None = None
    refused_by: Limit | None = None
    retry_after: float | None = None  # seconds until the refusing limit may allow it


@dataclass(frozen=True)
class Usage:
    """Leases held now, by scope."""

    global_active: int
    by_tenant: Mapping[int, int] = field(default_factory=dict)
    by_campaign: Mapping[int, int] = field(default_factory=dict)


class Admission(Protocol):
    """Caps, number locks and rates, shared by every dispatcher using the same backend.

    Until its state is known-good (``needs_rebuild()`` is False) a backend admits nothing:
    acquires are refused with ``refused_by`` None and ``headroom`` is 0. The reconciler
    rebuilds it from the store's live attempts."""

    async def acquire_batch(
        self, scope: Scope, requests: Sequence[tuple[str, str]], ttl: float
    ) -> list[AdmissionResult]:
        """Admit calls of one campaign, each ``(lease_id, phone)``, all-or-nothing per call:
        a call either takes every limit at once or none. Results are in request order."""
        ...

    async def release(self, lease: Lease) -> bool:
        """Give the lease back. Idempotent: True only the first time."""
        ...

    async def renew(self, lease: Lease, ttl: float) -> bool:
        """Extend a live lease; False (and no change) when it has expired or been released."""
        ...

    async def headroom(self, scope: Scope) -> int:
        """How many calls of this campaign the caps and rates would admit right now, ignoring
        number locks: the dispatcher claims no more leads than this."""
        ...

    async def usage(self) -> Usage: ...

    async def needs_rebuild(self) -> bool:
        """True while the state is not known-good (Redis lost its data, a process started
        with state unknown): nothing is admitted until ``rebuild()`` has run."""
        ...

    async def rebuild(self, leases: Sequence[Lease]) -> bool:
        """Put back these leases (the store's live attempts) and mark the state known-good, in
        that order. False, changing nothing, when it is not needed (any more) or another
        process is rebuilding: safe to race."""
        ...

    async def restore(self, leases: Sequence[Lease]) -> int:
        """Put back any of these live leases that is missing (a failover lost recent writes),
        except leases released in the last minutes. Returns how many were added."""
        ...

    async def prune(self, keep: Collection[str], grace: float) -> int:
        """Drop leases held for more than ``grace`` seconds whose id is not in ``keep`` (their
        attempt ended and the release was lost). Returns how many were dropped."""
        ...


# ---------------------------------------------------------------- telephony


@dataclass(frozen=True)
class CallRequest:
    attempt_id: int
    to: str
    from_: str
    status_callback_url: str
    ring_timeout: int
    time_limit: int
    answer_url: str | None = None  # where the provider fetches call instructions (TwiML...)


@dataclass(frozen=True)
class ProviderEvent:
    """A status change reported by the provider, in provider-neutral words."""

    provider_call_id: str
    progress: CallProgress
    occurred_at: datetime | None = None
    sequence: int | None = None
    duration: int | None = None  # seconds of conversation, on the ending event
    hangup_cause: str | None = None
    raw: Mapping[str, str] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        """Identifies one report of one status change: a repeated delivery has the same key."""
        return f"{self.progress}:{self.sequence if self.sequence is not None else '-'}"


class Telephony(Protocol):
    name: str

    async def create_call(self, request: CallRequest) -> str:
        """Start a call; return the provider's call id. Raises ProviderRejected,
        ProviderThrottled, ProviderUnavailable (not created) or ProviderOutcomeUnknown."""
        ...

    async def fetch_call(self, provider_call_id: str) -> ProviderEvent:
        """The call's current state, as an event (used to resolve lost callbacks)."""
        ...

    async def find_call(self, request: CallRequest, since: datetime) -> str | None:
        """The id of a call this request created, if the provider has one (To, From, start
        time at or after ``since``): resolves a create whose answer was lost."""
        ...

    async def hang_up(self, provider_call_id: str) -> None: ...

    async def aclose(self) -> None: ...


class WebhookVerifier(Protocol):
    def verify(self, url: str, params: Mapping[str, str], signature: str) -> bool: ...


# ---------------------------------------------------------------- execution


@dataclass(frozen=True)
class Origination:
    """One admitted attempt, ready to be sent to the provider."""

    attempt_id: int
    lead_id: int
    campaign_id: int
    tenant_id: int
    lease_id: str
    request: CallRequest


class Executor(Protocol):
    async def submit(self, batch: Sequence[Origination]) -> None:
        """Hand a batch of originations over; returns once they are queued, not done."""
        ...

    async def drain(self) -> None:
        """Wait until everything submitted has been sent."""
        ...


# ---------------------------------------------------------------- storage


@dataclass(frozen=True)
class ContactDraft:
    """A validated contact row about to be stored."""

    phone: str
    zone_key: str
    name: str | None = None
    timezone: str | None = None
    tags: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)
    quiet_hours: tuple[TimeRange, ...] = ()


@dataclass(frozen=True)
class NewAttempt:
    lead: Lead
    lease_id: str
    lease_expires_at: datetime
    caller_id: str


@dataclass(frozen=True)
class Deferral:
    """A claimed lead put back without an attempt (not admitted, or not sent)."""

    lead_id: int
    status: LeadStatus
    next_attempt_at: datetime


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``async with`` block without ``commit()`` rolls back."""

    async def commit(self) -> None: ...

    # tenants and campaigns
    async def tenant_id(self, name: str) -> int:
        """The tenant's id, creating the tenant on first use."""
        ...

    async def add_campaign(
        self, tenant_id: int, settings: CampaignSettings, now: datetime
    ) -> Campaign: ...

    async def get_campaign(self, campaign_id: int) -> Campaign: ...

    async def campaigns_in(self, statuses: Sequence[CampaignStatus]) -> list[Campaign]: ...

    async def save_campaign_status(self, campaign: Campaign, now: datetime) -> None:
        """Store ``campaign.status`` if its version is unchanged, else raise Conflict."""
        ...

    # contacts and leads
    async def upsert_contacts(
        self, tenant_id: int, drafts: Sequence[ContactDraft], now: datetime
    ) -> list[int]:
        """Contact ids in draft order; an existing number keeps its id."""
        ...

    async def update_contact(self, contact: Contact) -> None:
        """Store the contact if its version is unchanged, else raise Conflict."""
        ...

    async def get_contact(self, contact_id: int) -> Contact: ...

    async def add_leads(
        self,
        campaign: Campaign,
        items: Sequence[tuple[int, ContactDraft]],
        now: datetime,
    ) -> int:
        """Add ``(contact_id, draft)`` leads; a contact already in the campaign is skipped.
        Returns how many were added."""
        ...

    async def due_zone_keys(self, campaign_id: int) -> set[str]: ...

    async def claim_due_leads(
        self, campaign_id: int, zone_keys: Sequence[str], now: datetime, limit: int
    ) -> list[Lead]:
        """Lock up to ``limit`` due leads (others' locked rows are skipped, never waited on)."""
        ...

    async def start_attempts(self, items: Sequence[NewAttempt], now: datetime) -> list[CallAttempt]:
        """Record QUEUED attempts and mark their leads DIALING."""
        ...

    async def defer_leads(self, deferrals: Sequence[Deferral], now: datetime) -> None: ...

    async def skip_due_leads(
        self, campaign_id: int, zone_keys: Sequence[str], outcome: str, now: datetime
    ) -> int:
        """Mark the due leads in these zones SKIPPED, with the reason as their outcome."""
        ...

    async def set_lead_status(
        self, campaign_id: int, from_statuses: Sequence[LeadStatus], to: LeadStatus, now: datetime
    ) -> int: ...

    async def get_lead(self, lead_id: int, *, lock: bool = False) -> Lead: ...

    async def save_lead(self, lead: Lead, outcome: str | None, now: datetime) -> None: ...

    async def has_open_leads(self, campaign_id: int) -> bool: ...

    async def skip_leads(self, lead_ids: Sequence[int], outcome: str, now: datetime) -> None:
        """Mark these leads SKIPPED (never dialled on purpose), with the reason."""
        ...

    # contact safety
    async def tenant_settings(self, tenant_id: int) -> dict[str, Any]: ...

    async def set_tenant_settings(self, tenant_id: int, values: Mapping[str, Any]) -> None: ...

    async def do_not_call_listed(self, tenant_id: int, phones: Sequence[str]) -> set[str]:
        """The numbers on the tenant's list or on the global list (tenant 0)."""
        ...

    async def add_do_not_call(
        self, tenant_id: int, entries: Sequence[tuple[str, str | None]], now: datetime
    ) -> int:
        """Add ``(phone, reason)`` entries; a number already listed is left as it is."""
        ...

    async def remove_do_not_call(self, tenant_id: int, phones: Sequence[str]) -> int: ...

    async def list_do_not_call(
        self, tenant_id: int, after_id: int, limit: int
    ) -> list[tuple[int, str, str | None, datetime]]: ...

    async def number_history(
        self, tenant_id: int, phones: Sequence[str], since: datetime
    ) -> dict[str, NumberHistory]:
        """Per number: start times of sent attempts since ``since``, and the end of the
        latest conversation."""
        ...

    async def contact_history(
        self, tenant_id: int, phone: str, limit: int
    ) -> list[tuple[CallAttempt, str]]:
        """The tenant's attempts to this number across campaigns, newest first, each with its
        campaign's name."""
        ...

    async def lead_counts(self, campaign_id: int) -> dict[LeadStatus, int]: ...

    # attempts and events
    async def get_attempt(self, attempt_id: int, *, lock: bool = False) -> CallAttempt | None: ...

    async def attempt_by_call_id(self, provider_call_id: str) -> CallAttempt | None: ...

    async def save_attempt(self, attempt: CallAttempt) -> None: ...

    async def mark_sending(self, attempt_id: int, now: datetime) -> bool:
        """Set the attempt's sent marker if it is QUEUED and unmarked; False otherwise (it was
        sent before, or has ended). Committed before the provider request is made."""
        ...

    async def record_event(
        self, attempt_id: int, event: ProviderEvent, effect: str, now: datetime
    ) -> bool:
        """Store a provider event once; False when this exact report was stored before."""
        ...

    async def expired_attempts(self, now: datetime, limit: int) -> list[CallAttempt]: ...

    async def live_attempt_list(self) -> list[CallAttempt]:
        """Every attempt not yet ended: the truth admission state is rebuilt from."""
        ...

    async def attempt_counts(self, campaign_id: int) -> dict[AttemptStatus, int]: ...

    async def attempts_since(self, campaign_id: int, since: datetime) -> int: ...

    async def live_attempts(self, campaign_id: int | None = None) -> int: ...


class Store(Protocol):
    def unit(self) -> AbstractAsyncContextManager[UnitOfWork]: ...

    async def close(self) -> None: ...

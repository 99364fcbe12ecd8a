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

from dialer.domain.breaker import BreakerSnapshot, ProviderHealth
from dialer.domain.model import (
    CallAttempt,
    Campaign,
    CampaignSettings,
    Contact,
    Lead,
    Rate,
    Rates,
)
from dialer.domain.safety import NumberHistory
from dialer.domain.stages import Stage
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
    # Each level may carry several limiters (per second, per minute, per hour).
    campaign_rate: Rate | Rates | None = None
    tenant_rate: Rate | Rates | None = None
    global_rate: Rate | Rates | None = None


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
class SendSlot:
    """When an admitted call may go to the provider: ``wait`` seconds from now (0: at once).
    ``reserved`` is False when the wait would have exceeded the caller's bound: then nothing
    was taken, and the call must not be sent."""

    at: float  # seconds since the epoch, on the backend's clock; 0.0 for a scope without rates
    wait: float
    reserved: bool = True


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

    async def reserve_send(self, scope: Scope, max_wait: float) -> SendSlot:
        """Take the next send slot on every rate limiter of the scope at once, on state of its
        own (not admission's): the instant ``t = max(now, max(TAT - tolerance))`` over the
        limiters, each of whose TAT then becomes ``max(TAT, t) + interval``; each limiter at
        its rate, one call of its burst held back for the delays after the slot (see
        ``RateLimiter.send_gcra``). Admission bounds how many calls start; this spaces the
        sends themselves, so that delays between the dispatcher and the sender (broker,
        workers) cannot bunch them at the provider. A wait above ``max_wait`` takes nothing
        (``reserved`` False)."""
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


class CreateOutcome(StrEnum):
    """What one sent create tells the provider guard (see services/provider_guard.py)."""

    ACCEPTED = "accepted"  # breaker: success; pacing: one step up per second
    REJECTED = "rejected"  # breaker: success (the provider is up); pacing: nothing
    THROTTLED = "throttled"  # breaker: success; pacing: multiplicative decrease
    FAILED = "failed"  # breaker: failure; pacing: nothing


@dataclass(frozen=True)
class GuardView:
    """A provider guard's state as of its latest operation."""

    breaker: BreakerSnapshot
    rate: float  # starts per second the pacing allows
    ceiling: float
    decreases: int


class GuardBackend(Protocol):
    """One provider account's circuit breaker and adaptive pacing: in this process, or shared
    by every process through Redis. Each operation is atomic."""

    async def room(self) -> int:
        """How many calls may start now (breaker and pacing together)."""
        ...

    async def started(self, count: int) -> None:
        """``count`` calls were handed to the senders: they spend the pacing's tokens."""
        ...

    async def try_start(self) -> bool:
        """Permission for one create: always while closed, one probe while half-open."""
        ...

    async def abandon(self) -> None:
        """A create permitted by ``try_start`` was never sent: its probe is free again."""
        ...

    async def record(self, outcome: CreateOutcome) -> None: ...

    def view(self) -> GuardView: ...

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
    traceparent: str | None = None  # the attempt's trace context, across processes (issue 8)
    # The limits it was admitted under: its send is spaced on the same rates. None (a job
    # queued before sends were spaced): sent without waiting.
    scope: Scope | None = None


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
    traceparent: str | None = None


@dataclass(frozen=True)
class Deferral:
    """A claimed lead put back without an attempt (not admitted, or not sent)."""

    lead_id: int
    status: LeadStatus
    next_attempt_at: datetime
    reason: str | None = None  # what it waits on: the frequency cap, a number lock, ...


@dataclass(frozen=True)
class WaitingGroup:
    """Due leads of one campaign sharing a zone key, a status and a recorded reason, due now
    or later, with the earliest next attempt among them."""

    zone_key: str
    status: LeadStatus
    waiting_on: str | None
    due_now: bool
    leads: int
    next_at: datetime | None


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``async with`` block without ``commit()`` rolls back."""

    async def commit(self) -> None: ...

    async def trace_leads(self, lead_ids: Sequence[int], traceparent: str) -> None:
        """Keep the W3C traceparent of the request that queued these leads (issue 8)."""
        ...

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
        self,
        tenant_id: int,
        entries: Sequence[tuple[str, str | None]],
        now: datetime,
        added_by: int | None = None,
    ) -> int:
        """Add ``(phone, reason)`` entries, recording ``added_by`` (the tenant that listed
        them; None: the platform); a number already listed is left as it is."""
        ...

    async def remove_do_not_call(self, tenant_id: int, phones: Sequence[str]) -> int: ...

    async def list_do_not_call(
        self, tenant_id: int, after_id: int, limit: int
    ) -> list[DoNotCallEntry]: ...

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

    async def waiting_groups(self, campaign_id: int, now: datetime) -> list[WaitingGroup]:
        """The campaign's due leads counted by zone key, status, reason and due-now, in one
        grouped query."""
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

    async def live_attempts(
        self, campaign_id: int | None = None, *, tenant_id: int | None = None
    ) -> int: ...

    # ---------------------------------------------- REST API (issue 5): keys, queues, call log

    async def tenant_name(self, tenant_id: int) -> str:
        """The tenant's name; NotFound if there is no such tenant."""
        ...

    async def add_api_key(self, key: NewApiKey, now: datetime) -> StoredApiKey: ...

    async def api_key(self, key_id: str) -> StoredApiKey | None: ...

    async def api_keys(self, tenant_id: int | None) -> list[StoredApiKey]:
        """Every key of the tenant (of every tenant when None), oldest first."""
        ...

    async def revoke_api_key(self, key_id: str, tenant_id: int | None, now: datetime) -> bool:
        """Revoke a live key (of this tenant, unless None); False when none was live."""
        ...

    async def tenant_campaigns(self, tenant_id: int, after_id: int, limit: int) -> list[Campaign]:
        """The tenant's campaigns by id, after ``after_id``."""
        ...

    async def save_campaign_settings(
        self, campaign: Campaign, settings: CampaignSettings, now: datetime
    ) -> None:
        """Store new settings if the campaign's version is unchanged, else raise Conflict."""
        ...

    async def claim_idempotency_key(
        self, tenant_id: int, key: str, fingerprint: str, now: datetime
    ) -> StoredResponse | None:
        """Reserve the key for this transaction; None when it is new, else the answer stored
        by the first request (a concurrent first request is waited for, never overtaken)."""
        ...

    async def save_idempotent_response(
        self, tenant_id: int, key: str, status_code: int, body: Any
    ) -> None: ...

    async def prune_idempotency_keys(self, before: datetime) -> int: ...

    # dashboard sign-in sessions (shared by every API process), by the digest of their id
    async def add_dashboard_session(self, session: DashboardSession, keep: int) -> None:
        """Store a new session; the key's sessions beyond the ``keep`` most recently used
        (the new one counted) are closed."""
        ...

    async def dashboard_session(self, digest: str) -> DashboardSession | None: ...

    async def touch_dashboard_session(self, digest: str, now: datetime) -> None: ...

    async def close_dashboard_session(self, digest: str) -> None: ...

    async def dashboard_notices(self, digest: str) -> list[Any] | None:
        """The session's pending notices, its row locked until the transaction ends (a
        read-modify-write of them is never interleaved); None when there is no session."""
        ...

    async def save_dashboard_notices(self, digest: str, notices: list[Any]) -> None: ...

    async def prune_dashboard_sessions(self, idle_before: datetime) -> int:
        """Delete sessions unused since ``idle_before`` and those of revoked keys."""
        ...

    async def api_queue(self, tenant_id: int, caller_id: str, answer_key: str) -> int | None:
        """The campaign id of the tenant's API call queue for this caller ID and answer URL."""
        ...

    async def set_api_queue(
        self, tenant_id: int, caller_id: str, answer_key: str, campaign_id: int, old: int | None
    ) -> int:
        """Point the queue at ``campaign_id`` unless another process got there first (the
        queue no longer points at ``old``); returns the campaign the queue points at."""
        ...

    async def api_queue_campaigns(self, tenant_id: int | None) -> list[int]: ...

    async def reopen_campaign(self, campaign_id: int, now: datetime) -> bool:
        """Move a COMPLETED API queue back to RUNNING: it completes whenever it runs dry, and
        a new call reopens it. False when it was not COMPLETED."""
        ...

    async def stranded_campaigns(self, campaign_ids: Sequence[int]) -> list[int]:
        """Of these campaigns, the COMPLETED ones that still have leads to call."""
        ...

    async def queue_leads(
        self, campaign: Campaign, items: Sequence[tuple[int, ContactDraft]], now: datetime
    ) -> list[tuple[Lead, bool]]:
        """A lead per contact, in order, each with True when it is queued anew: a contact
        with no lead gets one, a finished lead is queued again, an open one is left as is."""
        ...

    async def open_leads_in(self, campaign_ids: Sequence[int], at_most: int) -> int:
        """Leads of these campaigns still to be called (pending or waiting for a retry),
        counted up to ``at_most``."""
        ...

    async def find_attempts(self, query: AttemptQuery) -> list[CallAttempt]: ...

    async def lead_attempts(self, lead_id: int) -> list[CallAttempt]: ...

    async def find_leads(self, query: LeadQuery) -> list[LeadResult]:
        """A page of one campaign's leads, oldest first, after the ``after_id`` cursor, each
        with its contact's name and its last attempt."""
        ...

    async def attempt_totals(self, tenant_id: int | None) -> tuple[int, dict[AttemptStatus, int]]:
        """Attempts sent to the provider, and attempts by status (of every tenant if None)."""
        ...

    async def skip_listed_leads(self, campaign: Campaign, outcome: str, now: datetime) -> int:
        """Mark SKIPPED the campaign's pending leads whose number is on the tenant's or the
        global do-not-call list."""
        ...

    # ---------------------------------------------- distributed execution (issue 4)
    # Dead letters, process heartbeats, and attempts nobody sent. Tables: cluster_tables.py.

    async def add_dead_letter(self, letter: NewDeadLetter, now: datetime) -> None:
        """Store a failed job; the same job failing again (same kind and key) adds its tries
        to the existing letter and reopens it if it had been replayed."""
        ...

    async def dead_letters(
        self, tenant_id: int | None, after_id: int, limit: int, include_closed: bool
    ) -> list[DeadLetter]:
        """Letters by id after ``after_id``, of one tenant (of all when None); open ones
        only unless ``include_closed``."""
        ...

    async def get_dead_letter(self, letter_id: int, *, lock: bool = False) -> DeadLetter | None: ...

    async def close_dead_letter(self, letter_id: int, how: str, now: datetime) -> bool:
        """Mark an open letter ``replayed`` or ``discarded``; False when it was not open."""
        ...

    async def save_heartbeat(self, beat: NodeBeat) -> None:
        """Insert or update this process's row (by ``beat.name``)."""
        ...

    async def heartbeats(self) -> list[NodeBeat]: ...

    async def prune_heartbeats(self, before: datetime) -> int:
        """Delete the rows of processes silent since before ``before``."""
        ...

    async def unsent_attempts(self, created_before: datetime, limit: int) -> list[CallAttempt]:
        """QUEUED attempts without a sent marker, created before ``created_before``."""
        ...

    async def unsent_attempt_count(self) -> int:
        """How many attempts, deployment-wide, are QUEUED without a sent marker: admitted and
        handed to the executor, not yet sent (dispatch backpressure)."""
        ...

    async def campaign_route(self, campaign_id: int) -> CampaignRoute:
        """What routes a campaign's originations to a worker queue."""
        ...

    # ---------------------------------------------- providers (issue 7): breaker and pacing
    # Table: provider_tables.py.

    async def save_provider_health(self, health: ProviderHealth) -> None:
        """Insert or replace the account's row."""
        ...

    async def provider_health(self) -> list[ProviderHealth]: ...

    # ---------------------------------------------- observability (issue 8)

    async def due_lead_counts(
        self, campaign_ids: Sequence[int], now: datetime
    ) -> dict[tuple[int, str], int]:
        """Leads of these campaigns due at ``now``, by ``(campaign_id, zone_key)``."""
        ...

    async def open_dead_letter_count(self) -> int:
        """Dead letters neither replayed nor discarded, of every tenant."""
        ...


class Store(Protocol):
    def unit(self) -> AbstractAsyncContextManager[UnitOfWork]: ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------- REST API (issue 5)


@dataclass(frozen=True)
class DoNotCallEntry:
    """A listed number, with who listed it: a tenant (id and name) or, when None, the
    platform (a platform key or the command line)."""

    id: int
    phone: str
    reason: str | None
    created_at: datetime
    added_by_id: int | None
    added_by: str | None


@dataclass(frozen=True)
class NewApiKey:
    tenant_id: int
    key_id: str
    secret_hash: str
    scope: str
    name: str


@dataclass(frozen=True)
class StoredApiKey:
    id: int
    tenant_id: int
    tenant: str
    key_id: str
    secret_hash: str
    scope: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status_code: int
    body: Any


@dataclass(frozen=True)
class DashboardSession:
    """A dashboard sign-in: the digest of its id (the id itself is only in the browser's
    cookie) and the public id of the API key it was opened with (never the key)."""

    digest: str
    key_id: str
    tenant_id: int
    csrf: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class AttemptQuery:
    """A page of one tenant's call log, newest first, before the ``before_id`` cursor."""

    tenant_id: int
    limit: int
    before_id: int | None = None
    campaign_id: int | None = None
    statuses: tuple[AttemptStatus, ...] = ()
    phone: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class LeadQuery:
    """A page of one campaign's leads and their results, oldest first. Filters combine
    with AND; each tuple is "any of these" (empty: no filter)."""

    campaign_id: int
    limit: int
    after_id: int = 0
    statuses: tuple[LeadStatus, ...] = ()
    last_outcomes: tuple[AttemptStatus, ...] = ()  # the last attempt's status
    stages: tuple[Stage, ...] = ()
    phone: str | None = None


@dataclass(frozen=True)
class LeadResult:
    """A lead with what the operator reads of it: the contact's name, the last call."""

    lead: Lead
    name: str | None
    skip_reason: str | None  # why a SKIPPED lead was never dialled
    last_attempt: CallAttempt | None


# ---------------------------------------------------------------- distributed execution (issue 4)


@dataclass(frozen=True)
class DeadLetter:
    """A job that still failed after its retries: what it carried, why, how often tried."""

    id: int
    tenant_id: int
    kind: str
    cause: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    replayed_at: datetime | None
    discarded_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.replayed_at is None and self.discarded_at is None


@dataclass(frozen=True)
class NewDeadLetter:
    tenant_id: int
    kind: str
    key: str  # identifies the job: one letter per failed job, however often it fails
    cause: str
    payload: Mapping[str, Any]
    attempts: int


@dataclass(frozen=True)
class NodeBeat:
    """One process's last heartbeat: what it is and how much it has done."""

    name: str  # unique per process: node and pid
    kind: str  # dispatcher, worker, webhooks
    node: str  # the process's node name (several worker processes share one)
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime
    processed: int  # since the process started: originations, or calls dispatched
    failed: int
    rate: float  # processed per second since the previous beat
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignRoute:
    tenant: str
    campaign: str
    priority: int

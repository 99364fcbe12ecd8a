"""The store port: a unit of work (one transaction) exposing one small repository per aggregate."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from dialer.domain.breaker import ProviderHealth
from dialer.domain.model import (
    CallAttempt,
    Campaign,
    CampaignSettings,
    Contact,
    Lead,
)
from dialer.domain.safety import NumberHistory
from dialer.domain.statuses import AttemptStatus, CampaignStatus, LeadStatus
from dialer.ports.answer_store import AnswerStats
from dialer.ports.cost_store import Costs
from dialer.ports.message_store import Messages
from dialer.ports.records import (
    AttemptQuery,
    CampaignRoute,
    ContactDraft,
    DashboardSession,
    DeadLetter,
    Deferral,
    DoNotCallEntry,
    LeadQuery,
    LeadResult,
    NewApiKey,
    NewAttempt,
    NewDeadLetter,
    NodeBeat,
    RecordedEvent,
    StoredApiKey,
    StoredResponse,
    WaitingGroup,
)
from dialer.ports.telephony import ProviderEvent
from dialer.ports.webhook_store import Webhooks


class Tenants(Protocol):
    """Tenants: created on first use by name, with their contact-safety settings."""

    async def id_for(self, name: str) -> int:
        """The tenant's id, creating the tenant on first use."""
        ...

    async def settings(self, tenant_id: int) -> dict[str, Any]: ...

    async def save_settings(self, tenant_id: int, values: Mapping[str, Any]) -> None: ...

    async def name(self, tenant_id: int) -> str:
        """The tenant's name; NotFound if there is no such tenant."""
        ...


class Campaigns(Protocol):
    """Campaigns: settings, status (versioned), API call queues and the routing of their jobs."""

    async def add(self, tenant_id: int, settings: CampaignSettings, now: datetime) -> Campaign: ...

    async def get(self, campaign_id: int) -> Campaign: ...

    async def in_status(self, statuses: Sequence[CampaignStatus]) -> list[Campaign]: ...

    async def save_status(self, campaign: Campaign, now: datetime) -> None:
        """Store ``campaign.status`` if its version is unchanged, else raise Conflict."""
        ...

    async def of_tenant(self, tenant_id: int, after_id: int, limit: int) -> list[Campaign]:
        """The tenant's campaigns by id, after ``after_id``."""
        ...

    async def save_settings(
        self, campaign: Campaign, settings: CampaignSettings, now: datetime
    ) -> None:
        """Store new settings if the campaign's version is unchanged, else raise Conflict."""
        ...

    async def queue_for(self, tenant_id: int, caller_id: str, answer_key: str) -> int | None:
        """The campaign id of the tenant's API call queue for this caller ID and answer URL."""
        ...

    async def set_queue(
        self, tenant_id: int, caller_id: str, answer_key: str, campaign_id: int, old: int | None
    ) -> int:
        """Point the queue at ``campaign_id`` unless another process got there first (the
        queue no longer points at ``old``); returns the campaign the queue points at."""
        ...

    async def queues(self, tenant_id: int | None) -> list[int]: ...

    async def reopen(self, campaign_id: int, now: datetime) -> bool:
        """Move a COMPLETED API queue back to RUNNING: it completes whenever it runs dry, and
        a new call reopens it. False when it was not COMPLETED."""
        ...

    async def stranded(self, campaign_ids: Sequence[int]) -> list[int]:
        """Of these campaigns, the COMPLETED ones that still have leads to call."""
        ...

    async def route(self, campaign_id: int) -> CampaignRoute:
        """What routes a campaign's originations to a worker queue."""
        ...


class Leads(Protocol):
    """Leads: a contact in a campaign, from import through claims and deferrals to an end."""

    async def trace(self, lead_ids: Sequence[int], traceparent: str) -> None:
        """Keep the W3C traceparent of the request that queued these leads."""
        ...

    async def add(
        self,
        campaign: Campaign,
        items: Sequence[tuple[int, ContactDraft]],
        now: datetime,
    ) -> int:
        """Add ``(contact_id, draft)`` leads; a contact already in the campaign is skipped.
        Returns how many were added."""
        ...

    async def due_zone_keys(self, campaign_id: int) -> set[str]: ...

    async def claim_due(
        self, campaign_id: int, zone_keys: Sequence[str], now: datetime, limit: int
    ) -> list[Lead]:
        """Lock up to ``limit`` due leads (others' locked rows are skipped, never waited on)."""
        ...

    async def defer(self, deferrals: Sequence[Deferral], now: datetime) -> None: ...

    async def skip_due(
        self, campaign_id: int, zone_keys: Sequence[str], outcome: str, now: datetime
    ) -> int:
        """Mark the due leads in these zones SKIPPED, with the reason as their outcome."""
        ...

    async def move_all(
        self, campaign_id: int, from_statuses: Sequence[LeadStatus], to: LeadStatus, now: datetime
    ) -> int: ...

    async def get(self, lead_id: int, *, lock: bool = False) -> Lead: ...

    async def get_many(self, lead_ids: Collection[int], *, lock: bool = False) -> dict[int, Lead]:
        """The leads among these ids, by id; locked in id order, so that two batches locking
        overlapping leads never wait on each other in a cycle."""
        ...

    async def save(self, lead: Lead, outcome: str | None, now: datetime) -> None: ...

    async def has_open(self, campaign_id: int) -> bool: ...

    async def skip(self, lead_ids: Sequence[int], outcome: str, now: datetime) -> None:
        """Mark these leads SKIPPED (never dialled on purpose), with the reason."""
        ...

    async def queue(
        self, campaign: Campaign, items: Sequence[tuple[int, ContactDraft]], now: datetime
    ) -> list[tuple[Lead, bool]]:
        """A lead per contact, in order, each with True when it is queued anew: a contact
        with no lead gets one, a finished lead is queued again, an open one is left as is."""
        ...

    async def find(self, query: LeadQuery) -> list[LeadResult]:
        """A page of one campaign's leads, oldest first, after the ``after_id`` cursor, each
        with its contact's name and its last attempt."""
        ...

    async def skip_listed(self, campaign: Campaign, outcome: str, now: datetime) -> int:
        """Mark SKIPPED the campaign's pending leads whose number is on the tenant's or the
        global do-not-call list."""
        ...


class Attempts(Protocol):
    """Call attempts and their provider events."""

    async def start(self, items: Sequence[NewAttempt], now: datetime) -> list[CallAttempt]:
        """Record QUEUED attempts and mark their leads DIALING."""
        ...

    async def get(self, attempt_id: int, *, lock: bool = False) -> CallAttempt | None: ...

    async def by_call_id(self, provider_call_id: str) -> CallAttempt | None: ...

    async def get_many(
        self, attempt_ids: Collection[int], *, lock: bool = False
    ) -> dict[int, CallAttempt]:
        """The attempts among these ids, by id; locked in id order (see ``Leads.get_many``)."""
        ...

    async def save(self, attempt: CallAttempt) -> None: ...

    async def save_many(self, attempts: Sequence[CallAttempt]) -> None:
        """``save`` for each, in one statement."""
        ...

    async def mark_sending(self, attempt_id: int, now: datetime) -> bool:
        """Set the attempt's sent marker if it is QUEUED and unmarked; False otherwise (it was
        sent before, or has ended). Committed before the provider request is made."""
        ...

    async def mark_sending_many(self, attempt_ids: Collection[int], now: datetime) -> set[int]:
        """``mark_sending`` for each, in one statement: the ids whose marker this set."""
        ...

    async def accept_many(self, accepted: Mapping[int, str], now: datetime) -> None:
        """The provider created these calls (attempt id -> its call id): each keeps the call id
        it already had, else takes this one; a QUEUED attempt becomes INITIATED at ``now``."""
        ...

    async def event_keys(self, attempt_ids: Collection[int]) -> set[tuple[int, str]]:
        """``(attempt id, dedupe key)`` of every event stored for these attempts."""
        ...

    async def record_events(self, events: Sequence[RecordedEvent], now: datetime) -> None:
        """Store these events (each new, as ``event_keys`` said under the attempts' locks)."""
        ...

    async def record_event(
        self, attempt_id: int, event: ProviderEvent, effect: str, now: datetime
    ) -> bool:
        """Store a provider event once; False when this exact report was stored before."""
        ...

    async def expired(self, now: datetime, limit: int) -> list[CallAttempt]: ...

    async def live(self) -> list[CallAttempt]:
        """Every attempt not yet ended: the truth admission state is rebuilt from."""
        ...

    async def find(self, query: AttemptQuery) -> list[CallAttempt]: ...

    async def of_lead(self, lead_id: int) -> list[CallAttempt]: ...

    async def unsent(self, created_before: datetime, limit: int) -> list[CallAttempt]:
        """QUEUED attempts without a sent marker, created before ``created_before``."""
        ...


class Contacts(Protocol):
    """Contacts of a tenant and what was dialled to their numbers."""

    async def upsert(
        self, tenant_id: int, drafts: Sequence[ContactDraft], now: datetime
    ) -> list[int]:
        """Contact ids in draft order; an existing number keeps its id."""
        ...

    async def update(self, contact: Contact) -> None:
        """Store the contact if its version is unchanged, else raise Conflict."""
        ...

    async def get(self, contact_id: int) -> Contact: ...

    async def get_many(self, contact_ids: Collection[int]) -> dict[int, Contact]: ...

    async def number_history(
        self, tenant_id: int, phones: Sequence[str], since: datetime
    ) -> dict[str, NumberHistory]:
        """Per number: start times of sent attempts since ``since``, and the end of the
        latest conversation."""
        ...

    async def history(
        self, tenant_id: int, phone: str, limit: int
    ) -> list[tuple[CallAttempt, str]]:
        """The tenant's attempts to this number across campaigns, newest first, each with its
        campaign's name."""
        ...


class DoNotCall(Protocol):
    """Do-not-call lists: a tenant's own, and the platform's (tenant 0)."""

    async def listed(self, tenant_id: int, phones: Sequence[str]) -> set[str]:
        """The numbers on the tenant's list or on the global list (tenant 0)."""
        ...

    async def add(
        self,
        tenant_id: int,
        entries: Sequence[tuple[str, str | None]],
        now: datetime,
        added_by: int | None = None,
    ) -> int:
        """Add ``(phone, reason)`` entries, recording ``added_by`` (the tenant that listed
        them; None: the platform); a number already listed is left as it is."""
        ...

    async def remove(self, tenant_id: int, phones: Sequence[str]) -> int: ...

    async def page(self, tenant_id: int, after_id: int, limit: int) -> list[DoNotCallEntry]: ...


class Access(Protocol):
    """API keys, idempotency keys and dashboard sign-in sessions."""

    async def add_key(self, key: NewApiKey, now: datetime) -> StoredApiKey: ...

    async def key(self, key_id: str) -> StoredApiKey | None: ...

    async def keys(self, tenant_id: int | None) -> list[StoredApiKey]:
        """Every key of the tenant (of every tenant when None), oldest first."""
        ...

    async def revoke_key(self, key_id: str, tenant_id: int | None, now: datetime) -> bool:
        """Revoke a live key (of this tenant, unless None); False when none was live."""
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

    async def add_session(self, session: DashboardSession, keep: int) -> None:
        """Store a new session; the key's sessions beyond the ``keep`` most recently used
        (the new one counted) are closed."""
        ...

    async def session(self, digest: str) -> DashboardSession | None: ...

    async def touch_session(self, digest: str, now: datetime) -> None: ...

    async def close_session(self, digest: str) -> None: ...

    async def notices(self, digest: str) -> list[Any] | None:
        """The session's pending notices, its row locked until the transaction ends (a
        read-modify-write of them is never interleaved); None when there is no session."""
        ...

    async def save_notices(self, digest: str, notices: list[Any]) -> None: ...

    async def prune_sessions(self, idle_before: datetime) -> int:
        """Delete sessions unused since ``idle_before`` and those of revoked keys."""
        ...


class Cluster(Protocol):
    """Dead letters and the heartbeats of the cluster's processes."""

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


class Providers(Protocol):
    """The provider's breaker and pacing state, shared by every process."""

    async def save_health(self, health: ProviderHealth) -> None:
        """Insert or replace the account's row."""
        ...

    async def health(self) -> list[ProviderHealth]: ...


class Views(Protocol):
    """Read-only counts for progress, metrics and limits: no row changes here."""

    async def waiting_groups(self, campaign_id: int, now: datetime) -> list[WaitingGroup]:
        """The campaign's due leads counted by zone key, status, reason and due-now, in one
        grouped query."""
        ...

    async def lead_counts(self, campaign_id: int) -> dict[LeadStatus, int]: ...

    async def attempt_counts(self, campaign_id: int) -> dict[AttemptStatus, int]: ...

    async def attempts_since(self, campaign_id: int, since: datetime) -> int: ...

    async def live_attempts(
        self, campaign_id: int | None = None, *, tenant_id: int | None = None
    ) -> int: ...

    async def open_leads_in(self, campaign_ids: Sequence[int], at_most: int) -> int:
        """Leads of these campaigns still to be called (pending or waiting for a retry),
        counted up to ``at_most``."""
        ...

    async def attempt_totals(self, tenant_id: int | None) -> tuple[int, dict[AttemptStatus, int]]:
        """Attempts sent to the provider, and attempts by status (of every tenant if None)."""
        ...

    async def unsent_attempt_count(self, campaign_id: int | None = None) -> int:
        """How many attempts, deployment-wide (or of one campaign), are QUEUED without a sent
        marker: admitted and handed to the executor, not yet sent (dispatch backpressure; a
        campaign's calls waiting for their pre-dial hook or their send slot)."""
        ...

    async def due_lead_counts(
        self, campaign_ids: Sequence[int], now: datetime
    ) -> dict[tuple[int, str], int]:
        """Leads of these campaigns due at ``now``, by ``(campaign_id, zone_key)``."""
        ...

    async def open_dead_letter_count(self) -> int:
        """Dead letters neither replayed nor discarded, of every tenant."""
        ...


class UnitOfWork(Protocol):
    """One transaction, seen through one repository per aggregate. Leaving the
    ``async with`` block without ``commit()`` rolls back."""

    @property
    def tenants(self) -> Tenants: ...

    @property
    def campaigns(self) -> Campaigns: ...

    @property
    def leads(self) -> Leads: ...

    @property
    def attempts(self) -> Attempts: ...

    @property
    def contacts(self) -> Contacts: ...

    @property
    def do_not_call(self) -> DoNotCall: ...

    @property
    def access(self) -> Access: ...

    @property
    def cluster(self) -> Cluster: ...

    @property
    def providers(self) -> Providers: ...

    @property
    def views(self) -> Views: ...

    @property
    def messages(self) -> Messages: ...

    @property
    def webhooks(self) -> Webhooks: ...

    @property
    def costs(self) -> Costs: ...

    @property
    def answers(self) -> AnswerStats: ...

    async def commit(self) -> None: ...


class Store(Protocol):
    def unit(self) -> AbstractAsyncContextManager[UnitOfWork]: ...

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers (readiness checks)."""
        ...

    async def close(self) -> None: ...

"""The records the store port takes and gives back, beside the domain's own entities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dialer.domain.model import (
    CallAttempt,
    Lead,
)
from dialer.domain.stages import Stage
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.domain.window import TimeRange
from dialer.ports.telephony import ProviderEvent


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
class RecordedEvent:
    """A provider event about to be stored, with what it did to its attempt."""

    attempt_id: int
    event: ProviderEvent
    effect: str  # the new status, "ignored" (stale or out of order)


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

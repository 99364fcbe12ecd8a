"""The rows the in-memory tables hold (the columns of the SQL tables), and rows to domain
objects. Every row is frozen: a change is a new row (see tables.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dialer.domain.machines import AnsweredBy
from dialer.domain.model import CallAttempt, Campaign, CampaignSettings, Contact, Lead
from dialer.domain.statuses import (
    DUE_LEAD,
    LIVE_ATTEMPT,
    AttemptStatus,
    CampaignStatus,
    LeadStatus,
)
from dialer.domain.window import TimeRange


def json_copy(value: Any) -> Any:
    """A JSON column's value as the database would give it back: a deep copy, tuples as
    lists, keys as strings; what JSON cannot hold fails here as it would there."""
    return json.loads(json.dumps(value))


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: int
    name: str
    created_at: datetime
    settings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CampaignRow:
    id: int
    tenant_id: int
    settings: CampaignSettings
    status: CampaignStatus
    version: int
    created_at: datetime
    updated_at: datetime

    def campaign(self) -> Campaign:
        return Campaign(
            self.id,
            self.tenant_id,
            self.settings,
            self.status,
            self.version,
            self.created_at,
            self.updated_at,
        )


@dataclass(frozen=True, slots=True)
class QueueRow:
    """An API call queue: the standing campaign of a tenant, caller ID and answer URL."""

    id: int
    tenant_id: int
    caller_id: str
    answer_key: str
    campaign_id: int

    @property
    def route(self) -> tuple[int, str, str]:
        return (self.tenant_id, self.caller_id, self.answer_key)


@dataclass(frozen=True, slots=True)
class ContactRow:
    id: int
    tenant_id: int
    phone: str
    name: str | None
    timezone: str | None
    tags: tuple[str, ...]
    attributes: dict[str, str]
    quiet_hours: tuple[TimeRange, ...]
    version: int
    created_at: datetime

    def contact(self) -> Contact:
        return Contact(
            self.id,
            self.tenant_id,
            self.phone,
            self.name,
            self.timezone,
            self.tags,
            dict(self.attributes),
            self.version,
        )


@dataclass(frozen=True, slots=True)
class LeadRow:
    id: int
    campaign_id: int
    contact_id: int
    tenant_id: int
    phone: str
    zone_key: str
    status: LeadStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_id: int | None
    outcome: str | None
    quiet_hours: tuple[TimeRange, ...]
    version: int
    updated_at: datetime
    traceparent: str | None = None
    waiting_on: str | None = None

    @property
    def is_due(self) -> bool:
        return self.status in DUE_LEAD

    def lead(self) -> Lead:
        return Lead(
            id=self.id,
            campaign_id=self.campaign_id,
            contact_id=self.contact_id,
            phone=self.phone,
            zone_key=self.zone_key,
            status=self.status,
            attempts=self.attempts,
            next_attempt_at=self.next_attempt_at,
            last_attempt_id=self.last_attempt_id,
            version=self.version,
            quiet_hours=self.quiet_hours,
            traceparent=self.traceparent,
        )


@dataclass(frozen=True, slots=True)
class AttemptRow:
    id: int
    lead_id: int
    campaign_id: int
    tenant_id: int
    number: int
    phone: str
    caller_id: str
    status: AttemptStatus
    lease_id: str
    lease_expires_at: datetime | None
    created_at: datetime
    provider_call_id: str | None = None
    sent_at: datetime | None = None
    initiated_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration: int | None = None
    hangup_cause: str | None = None
    traceparent: str | None = None
    answered_by: AnsweredBy | None = None

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_ATTEMPT

    @property
    def is_unsent(self) -> bool:
        """Admitted and not handed to the provider yet."""
        return self.status is AttemptStatus.QUEUED and self.sent_at is None

    def attempt(self) -> CallAttempt:
        return CallAttempt(
            id=self.id,
            lead_id=self.lead_id,
            campaign_id=self.campaign_id,
            tenant_id=self.tenant_id,
            number=self.number,
            phone=self.phone,
            caller_id=self.caller_id,
            status=self.status,
            lease_id=self.lease_id,
            lease_expires_at=self.lease_expires_at,
            provider_call_id=self.provider_call_id,
            created_at=self.created_at,
            initiated_at=self.initiated_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            duration=self.duration,
            hangup_cause=self.hangup_cause,
            traceparent=self.traceparent,
            answered_by=self.answered_by,
        )


@dataclass(frozen=True, slots=True)
class EventRow:
    """A provider's report on a call, stored once per attempt and dedupe key."""

    id: int
    attempt_id: int
    provider_call_id: str | None
    dedupe_key: str
    progress: str
    occurred_at: datetime | None
    received_at: datetime
    effect: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DoNotCallRow:
    id: int
    tenant_id: int  # 0: the platform's list, every tenant obeys it
    phone: str
    reason: str | None
    created_at: datetime
    added_by: int | None


@dataclass(frozen=True, slots=True)
class IdempotencyRow:
    id: int
    tenant_id: int
    key: str
    fingerprint: str
    status_code: int
    body: Any
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    id: int
    tenant_id: int
    kind: str
    dedupe_key: str
    cause: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    updated_at: datetime
    replayed_at: datetime | None = None
    discarded_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.replayed_at is None and self.discarded_at is None

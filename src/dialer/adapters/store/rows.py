"""Rows to domain objects and back, and the statements more than one repository uses."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, Select, select, text

from dialer.adapters.store.tables import (
    DUE_PREDICATE,
    leads,
)
from dialer.campaign_document import settings_from_mapping
from dialer.domain.machines import AnsweredBy
from dialer.domain.model import CallAttempt, Campaign, CampaignSettings, Contact, Lead
from dialer.domain.statuses import (
    DUE_LEAD,
    LIVE_ATTEMPT,
    TERMINAL_LEAD,
    AttemptStatus,
    CampaignStatus,
    LeadStatus,
)
from dialer.domain.window import format_ranges, parse_ranges
from dialer.ports import (
    ContactDraft,
    DeadLetter,
    LeadResult,
    StoredApiKey,
)

DUE = [s.value for s in DUE_LEAD]
LIVE = [s.value for s in LIVE_ATTEMPT]
TERMINAL = [s.value for s in TERMINAL_LEAD]
# As written in the partial index ix_leads_due, so the planner can use the index.
DUE_CLAUSE = text(DUE_PREDICATE)


@lru_cache(maxsize=256)
def _settings(document: str) -> CampaignSettings:
    return settings_from_mapping(json.loads(document))


def campaign(row: Row[Any]) -> Campaign:
    return Campaign(
        id=row.id,
        tenant_id=row.tenant_id,
        settings=_settings(json.dumps(row.settings, sort_keys=True)),
        status=CampaignStatus(row.status),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def lead(row: Row[Any]) -> Lead:
    return Lead(
        id=row.id,
        campaign_id=row.campaign_id,
        contact_id=row.contact_id,
        phone=row.phone,
        zone_key=row.zone_key,
        status=LeadStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_attempt_id=row.last_attempt_id,
        version=row.version,
        quiet_hours=parse_ranges(row.quiet_hours or ""),
        traceparent=row.traceparent,
    )


def attempt(row: Row[Any]) -> CallAttempt:
    return CallAttempt(
        id=row.id,
        lead_id=row.lead_id,
        campaign_id=row.campaign_id,
        tenant_id=row.tenant_id,
        number=row.number,
        phone=row.phone,
        caller_id=row.caller_id,
        status=AttemptStatus(row.status),
        lease_id=row.lease_id,
        lease_expires_at=row.lease_expires_at,
        provider_call_id=row.provider_call_id,
        created_at=row.created_at,
        initiated_at=row.initiated_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        duration=row.duration,
        hangup_cause=row.hangup_cause,
        traceparent=row.traceparent,
        answered_by=AnsweredBy(row.answered_by) if row.answered_by else None,
    )


def lead_result(row: Row[Any], lasts: Mapping[int, CallAttempt]) -> LeadResult:
    found = lead(row)
    skip_reason = row.outcome if found.status is LeadStatus.SKIPPED else None
    last = lasts.get(found.last_attempt_id) if found.last_attempt_id is not None else None
    return LeadResult(found, row.contact_name, skip_reason, last)


def contact(row: Row[Any]) -> Contact:
    return Contact(
        id=row.id,
        tenant_id=row.tenant_id,
        phone=row.phone,
        name=row.name,
        timezone=row.timezone,
        tags=tuple(row.tags),
        attributes=dict(row.attributes),
        version=row.version,
    )


def new_lead(
    campaign: Campaign, contact_id: int, draft: ContactDraft, now: datetime
) -> dict[str, Any]:
    """A new lead: the contact in the campaign, due now."""
    return {
        "campaign_id": campaign.id,
        "contact_id": contact_id,
        "tenant_id": campaign.tenant_id,
        "phone": draft.phone,
        "zone_key": draft.zone_key,
        "quiet_hours": format_ranges(draft.quiet_hours) or None,
        "status": LeadStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "version": 1,
        "updated_at": now,
    }


def skipped(outcome: str, now: datetime) -> dict[str, Any]:
    """The values that mark leads SKIPPED: never dialled on purpose, with the reason."""
    return {
        "status": LeadStatus.SKIPPED.value,
        "outcome": outcome,
        "next_attempt_at": None,
        "version": leads.c.version + 1,
        "updated_at": now,
    }


def claim_statement(
    campaign_id: int, zone_keys: Sequence[str], now: datetime, limit: int
) -> Select[Any]:
    """Due leads of one campaign in the given zones, oldest first, locked without waiting.

    With one zone key (how the dispatcher claims) this is an ordered range scan of the
    partial index ``ix_leads_due`` that stops after ``limit`` rows, however many leads the
    campaign has (docs/benchmarks.md shows the plan on a million leads)."""
    zone = (
        leads.c.zone_key == zone_keys[0]
        if len(zone_keys) == 1
        else leads.c.zone_key.in_(list(zone_keys))
    )
    return (
        select(leads)
        .where(
            leads.c.campaign_id == campaign_id,
            DUE_CLAUSE,  # as written in the partial index, so the planner can use it
            zone,
            leads.c.next_attempt_at <= now,
        )
        .order_by(leads.c.next_attempt_at, leads.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def api_key(row: Row[Any]) -> StoredApiKey:
    return StoredApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        tenant=row.tenant,
        key_id=row.key_id,
        secret_hash=row.secret_hash,
        scope=row.scope,
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def dead_letter(row: Row[Any]) -> DeadLetter:
    return DeadLetter(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=row.kind,
        cause=row.cause,
        payload=dict(row.payload),
        attempts=row.attempts,
        created_at=row.created_at,
        replayed_at=row.replayed_at,
        discarded_at=row.discarded_at,
    )

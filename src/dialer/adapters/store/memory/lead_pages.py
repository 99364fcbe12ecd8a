"""One page of a campaign's leads (the leads list and its CSV export): oldest first, after a
cursor, filtered by status, by the last attempt's status, by stage and by number."""

from __future__ import annotations

from dialer.adapters.store.memory.database import Database
from dialer.adapters.store.memory.rows import AttemptRow, LeadRow
from dialer.domain.stages import lead_stage
from dialer.domain.statuses import LeadStatus
from dialer.ports.records import LeadQuery, LeadResult


def _matches(query: LeadQuery, row: LeadRow, last: AttemptRow | None) -> bool:
    last_status = None if last is None else last.status
    if query.statuses and row.status not in query.statuses:
        return False
    if query.last_outcomes and last_status not in query.last_outcomes:
        return False
    # The stage is derived, never stored: the domain names it from the two statuses.
    if query.stages and lead_stage(row.status, last_status) not in query.stages:
        return False
    return query.phone is None or row.phone == query.phone


def _last_attempt(db: Database, row: LeadRow) -> AttemptRow | None:
    return None if row.last_attempt_id is None else db.attempts.get(row.last_attempt_id)


def _result(db: Database, row: LeadRow, last: AttemptRow | None) -> LeadResult | None:
    contact = db.contacts.get(row.contact_id)
    if contact is None:  # as the SQL join: a lead is listed with its contact
        return None
    skip_reason = row.outcome if row.status is LeadStatus.SKIPPED else None
    return LeadResult(
        row.lead(), contact.name, skip_reason, None if last is None else last.attempt()
    )


def page(db: Database, query: LeadQuery) -> list[LeadResult]:
    found: list[LeadResult] = []
    rows = [r for r in db.leads.group("campaign", query.campaign_id) if r.id > query.after_id]
    for row in sorted(rows, key=lambda r: r.id):
        if len(found) >= query.limit:
            break
        last = _last_attempt(db, row)
        result = _result(db, row, last) if _matches(query, row, last) else None
        if result is not None:
            found.append(result)
    return found

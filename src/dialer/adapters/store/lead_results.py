"""The statement behind a campaign's leads list (and its CSV export): one page of leads, oldest
first, filtered by status, by their last attempt's status, by stage and by number."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select

from dialer.adapters.store.tables import call_attempts, contacts, leads
from dialer.domain.stages import Stage, lead_states_in
from dialer.domain.statuses import AttemptStatus
from dialer.ports import LeadQuery

ALL_LAST = frozenset({None, *AttemptStatus})


def _last_status_in(lasts: frozenset[AttemptStatus | None]) -> ColumnElement[bool]:
    """The last attempt's status is one of ``lasts`` (None: the lead has no attempt)."""
    named = [s.value for s in lasts if s is not None]
    condition = call_attempts.c.status.in_(named) if named else false()
    return or_(condition, call_attempts.c.status.is_(None)) if None in lasts else condition


def _in_stage(stage: Stage) -> ColumnElement[bool]:
    # The stage is derived, never stored: the domain names the (lead status, last attempt
    # status) pairs it covers, and each becomes a condition on the two columns.
    conditions = [
        leads.c.status == lead.value
        if lasts == ALL_LAST
        else and_(leads.c.status == lead.value, _last_status_in(lasts))
        for lead, lasts in lead_states_in(stage).items()
    ]
    return or_(false(), *conditions)


def _filters(query: LeadQuery) -> list[ColumnElement[bool]]:
    found = [leads.c.campaign_id == query.campaign_id, leads.c.id > query.after_id]
    if query.statuses:
        found.append(leads.c.status.in_([s.value for s in query.statuses]))
    if query.last_outcomes:
        found.append(call_attempts.c.status.in_([s.value for s in query.last_outcomes]))
    if query.stages:
        found.append(or_(false(), *(_in_stage(stage) for stage in query.stages)))
    if query.phone is not None:
        found.append(leads.c.phone == query.phone)
    return found


def page_statement(query: LeadQuery) -> Select[Any]:
    """Leads with their contact's name; the last attempt is joined for the filters only."""
    joined = leads.join(contacts, contacts.c.id == leads.c.contact_id).outerjoin(
        call_attempts, call_attempts.c.id == leads.c.last_attempt_id
    )
    return (
        select(leads, contacts.c.name.label("contact_name"))
        .select_from(joined)
        .where(*_filters(query))
        .order_by(leads.c.id)
        .limit(query.limit)
    )

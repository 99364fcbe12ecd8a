"""The statement behind "why nothing is dialled": a campaign's due leads counted by zone key,
status, recorded reason and whether they are due now, with the earliest next attempt of each
group. One grouped scan of the partial due-leads index, however many leads there are."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select, text

from dialer.adapters.store.tables import DUE_PREDICATE, leads


def waiting_statement(campaign_id: int, now: datetime) -> Select[Any]:
    due_now = case(
        (or_(leads.c.next_attempt_at.is_(None), leads.c.next_attempt_at <= now), 1), else_=0
    ).label("due_now")
    return (
        select(
            leads.c.zone_key,
            leads.c.status,
            leads.c.waiting_on,
            due_now,
            func.count().label("leads"),
            func.min(leads.c.next_attempt_at).label("next_at"),
        )
        .where(leads.c.campaign_id == campaign_id, text(DUE_PREDICATE))
        .group_by(leads.c.zone_key, leads.c.status, leads.c.waiting_on, due_now)
    )

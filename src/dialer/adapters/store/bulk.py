"""A chunk of contacts, and its leads, in one statement each on PostgreSQL.

The portable path (``sql.py``) sends a chunk as row-by-row parameters and then looks the
contacts' ids up with ``phone IN (...1,000 parameters...)``. On PostgreSQL that lookup
degrades as the table grows from empty: after five runs the server keeps a generic plan made
while the table was small (a sequential scan comparing every row with each of the 1,000
parameters), so each chunk costs time in proportion to the rows already stored and a million
rows would take hours. Here a chunk travels as one array per column (``unnest``): one
statement stores the contacts and answers their ids, one more adds the leads, and both are
planned afresh for each chunk, so a chunk's cost does not grow with the table.
docs/benchmarks.md ("Contact import into PostgreSQL") has the figures before and after.

The rows written are exactly those of the portable path; tests/integration/store/test_bulk_import.py
imports the same file both ways and compares every column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import BigInteger, BindParameter, Text, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.adapters.store.tables import UtcDateTime
from dialer.domain.model import Campaign
from dialer.domain.statuses import LeadStatus
from dialer.domain.window import format_ranges
from dialer.ports import ContactDraft

_TEXTS = ARRAY(Text)
_IDS = ARRAY(BigInteger)
_ARRAYS = {
    "upsert_contacts": ("phones", "names", "timezones", "tags", "attributes", "quiet_hours"),
    "add_leads": ("phones", "zone_keys", "quiet_hours"),
}


@cache
def _statement(name: str) -> TextClause:
    """``queries/<name>.sql``, its array parameters typed; read once, on first use."""
    source = (resources.files("dialer.adapters.store") / "queries" / f"{name}.sql").read_text()
    params: list[BindParameter[Any]] = [bindparam(c, type_=_TEXTS) for c in _ARRAYS[name]]
    if name == "add_leads":
        params.append(bindparam("contact_ids", type_=_IDS))
    return text(source).bindparams(*params, bindparam("now", type_=UtcDateTime()))


async def _plan_each_time(conn: AsyncConnection) -> None:
    # A cached generic plan would be the one made while the table was small; for the rest of
    # this transaction, plan each statement with the table as it is now.
    await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _quiet(draft: ContactDraft) -> str | None:
    return format_ranges(draft.quiet_hours) or None


async def upsert_contacts(
    conn: AsyncConnection, tenant_id: int, drafts: Sequence[ContactDraft], now: datetime
) -> list[int]:
    """Contact ids in draft order; an existing number keeps its id and its values."""
    await _plan_each_time(conn)
    values = {
        "tenant_id": tenant_id,
        "now": now,
        "phones": [d.phone for d in drafts],
        "names": [d.name for d in drafts],
        "timezones": [d.timezone for d in drafts],
        # Serialised as the portable path's JSON columns write them (json.dumps).
        "tags": [json.dumps(list(d.tags)) for d in drafts],
        "attributes": [json.dumps(dict(d.attributes)) for d in drafts],
        "quiet_hours": [_quiet(d) for d in drafts],
    }
    rows = await conn.execute(_statement("upsert_contacts"), values)
    return [int(row.id) for row in rows]


async def add_leads(
    conn: AsyncConnection,
    campaign: Campaign,
    items: Sequence[tuple[int, ContactDraft]],
    now: datetime,
) -> int:
    """Leads added; a contact already in the campaign is skipped."""
    await _plan_each_time(conn)
    values = {
        "campaign_id": campaign.id,
        "tenant_id": campaign.tenant_id,
        "status": LeadStatus.PENDING.value,
        "now": now,
        "contact_ids": [contact_id for contact_id, _ in items],
        "phones": [d.phone for _, d in items],
        "zone_keys": [d.zone_key for _, d in items],
        "quiet_hours": [_quiet(d) for _, d in items],
    }
    result = await conn.execute(_statement("add_leads"), values)
    return int(result.rowcount)

"""On PostgreSQL a chunk of contacts and its leads are stored in one statement each
(adapters/store/bulk.py); the portable statements SQLite uses are the reference. The same CSV,
imported both ways through the service, must give the same report and exactly the same rows,
column by column, including numbers the tenant already had and a contact already in the
campaign."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from dialer.adapters.admission.memory import MemoryAdmission
from dialer.adapters.clock import ManualClock
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.sql import SqlStore
from dialer.domain.model import CampaignSettings
from dialer.domain.phone import zone_key
from dialer.ports import ContactDraft
from dialer.services import contacts as contact_service
from dialer.services.campaigns import create_campaign
from dialer.services.contacts import ImportReport, import_contacts
from dialer.services.context import Limits, Services
from tests.support.clock import T0
from tests.support.engine import NoTelephony

CSV = [
    "phone,name,timezone,tags,quiet_hours,account\n",
    "(212) 555-0101,Ann,,vip;renewal,,A-1\n",
    "+44 20 7946 0102,Ben,,renewal,12:00-13:00,A-2\n",
    "+33 1 42 68 01 03,,,,,\n",
    "303-555-0104,Cid,America/Phoenix,,,A-4\n",
    "12345,Bad number,,,,A-5\n",
    "+1 212 555 0106,Bad zone,Mars/Olympus_Mons,,,A-6\n",
    "+1 212 555 0107,Bad quiet,,,25:00-26:00,A-7\n",
    "+1 212 555 0108,Too few\n",
    "+12125550101,Repeated,,,,A-9\n",
    "+49 30 12345678,Known,,,,A-10\n",  # the tenant has this number already
    "+34 91 123 45 67,In campaign,,,,A-11\n",  # already a lead of the campaign
    '+1 808 555 0112,Dee,,"a;b",,A-12\n',
    "+1 907 555 0113,Eve,,,09:00-10:00,A-13\n",
]
KNOWN = ContactDraft("+493012345678", zone_key(("Europe/Berlin",)), name="kept as it was")
IN_CAMPAIGN = ContactDraft("+34911234567", zone_key(("Europe/Madrid",)), name="earlier")

CONTACT_COLUMNS = (
    "phone, name, timezone, tags::text, attributes::text, quiet_hours, version, created_at"
)
LEAD_COLUMNS = (
    "l.phone, c.phone AS contact_phone, l.zone_key, l.status, l.attempts, l.next_attempt_at,"
    " l.last_attempt_id, l.outcome, l.quiet_hours, l.version, l.updated_at, l.traceparent"
)


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    pair = (
        SqlStore(make_engine(pg_url), bulk_statements=True),
        SqlStore(make_engine(pg_url), bulk_statements=False),
    )
    yield pair
    for store in pair:
        await store.close()


async def imported(
    store: SqlStore, clock: ManualClock, tenant: str
) -> tuple[ImportReport, list[Any], list[Any]]:
    """Import CSV into a new campaign of a new tenant; return the report and the tenant's rows."""
    services = Services(
        store,
        MemoryAdmission(lambda: clock.now().timestamp()),
        NoTelephony(),
        clock,
        Limits(global_max=100, lease_ttl=600),
        "http://127.0.0.1:9",
    )
    campaign = await create_campaign(services, tenant, CampaignSettings("bulk", "+14155550100"))
    async with store.unit() as uow:
        await uow.contacts.upsert(campaign.tenant_id, [KNOWN], clock.now())
        ids = await uow.contacts.upsert(campaign.tenant_id, [IN_CAMPAIGN], clock.now())
        await uow.leads.add(campaign, [(ids[0], IN_CAMPAIGN)], clock.now())
        await uow.commit()
    clock.advance(60)  # the import's rows carry a later time than the ones stored before
    report = await import_contacts(services, campaign.id, lambda: CSV)
    async with store.unit() as uow:
        conn = uow._conn
        contacts = await conn.execute(
            text(f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE tenant_id = :t ORDER BY id"),
            {"t": campaign.tenant_id},
        )
        leads = await conn.execute(
            text(
                f"SELECT {LEAD_COLUMNS} FROM leads l JOIN contacts c ON c.id = l.contact_id"
                " WHERE l.campaign_id = :c ORDER BY l.id"
            ),
            {"c": campaign.id},
        )
        return report, [tuple(r) for r in contacts], [tuple(r) for r in leads]


async def test_bulk_statements_store_exactly_what_the_portable_ones_do(
    stores: tuple[SqlStore, SqlStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contact_service, "CHUNK_ROWS", 3)  # several chunks, a duplicate across
    bulk_store, portable_store = stores
    tag = uuid.uuid4().hex[:8]
    bulk = await imported(bulk_store, ManualClock(T0), f"bulk-{tag}")
    portable = await imported(portable_store, ManualClock(T0), f"portable-{tag}")

    report, contacts, leads = bulk
    assert (report.rows, report.accepted, report.added, report.rejected_count) == (13, 8, 7, 5)
    assert [r.line for r in report.rejected] == [6, 7, 8, 9, 10]
    assert report == portable[0]
    assert contacts == portable[1]
    assert leads == portable[2]
    by_phone = {row[0]: row for row in contacts}
    assert by_phone["+493012345678"][1] == "kept as it was"  # an existing contact is unchanged
    assert by_phone["+12125550101"][1:5] == (
        "Ann",
        None,
        '["vip", "renewal"]',
        '{"account": "A-1"}',
    )
    assert len(leads) == 8  # the earlier lead and the 7 added
    assert all(lead[0] == lead[1] for lead in leads)  # each lead belongs to its own contact

"""A campaign's leads and their results, as one tenant sees them: a page at a time, or every
page in turn for an export that never holds the whole campaign in memory."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from dialer.ports import LeadQuery, LeadResult, Store
from dialer.services.owned_campaigns import owned_campaign

EXPORT_PAGE = 1000  # leads read per transaction while exporting


async def page(store: Store, tenant_id: int, query: LeadQuery) -> list[LeadResult]:
    """One page; another tenant's campaign is NotFound, like one that does not exist."""
    async with store.unit() as uow:
        await owned_campaign(uow, tenant_id, query.campaign_id)
        return await uow.leads.find(query)


async def check_owned(store: Store, tenant_id: int, campaign_id: int) -> None:
    """NotFound unless the campaign is the tenant's: checked before an export starts, so
    the refusal is an error answer rather than a broken stream."""
    async with store.unit() as uow:
        await owned_campaign(uow, tenant_id, campaign_id)


async def every_lead(store: Store, query: LeadQuery) -> AsyncIterator[list[LeadResult]]:
    """Every matching lead, page after page, each page in its own short transaction (an
    export of a million leads holds no transaction open for its whole length)."""
    query = dataclasses.replace(query, limit=EXPORT_PAGE)
    while True:
        async with store.unit() as uow:
            found = await uow.leads.find(query)
        if found:
            yield found
        if len(found) < EXPORT_PAGE:
            return
        query = dataclasses.replace(query, after_id=found[-1].lead.id)

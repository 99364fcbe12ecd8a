"""The call log as one tenant sees it: attempts by campaign, status, number and time."""

from __future__ import annotations

from dataclasses import dataclass

from dialer.domain.costs import CostChannel
from dialer.domain.model import CallAttempt, Lead
from dialer.errors import NotFound
from dialer.ports import AttemptQuery, Store
from dialer.ports.cost_store import NewCharge
from dialer.services.owned_campaigns import owned_campaign


async def page(store: Store, query: AttemptQuery) -> list[CallAttempt]:
    async with store.unit() as uow:
        return await uow.attempts.find(query)


async def charges(store: Store, attempts: list[CallAttempt]) -> dict[int, NewCharge]:
    """The charge of each attempt that has one (calls that ended, priced by a card)."""
    async with store.unit() as uow:
        return await uow.costs.charges_of(CostChannel.CALL, [a.id for a in attempts])


async def attempt(store: Store, tenant_id: int, attempt_id: int) -> CallAttempt:
    async with store.unit() as uow:
        found = await uow.attempts.get(attempt_id)
    if found is None or found.tenant_id != tenant_id:
        raise NotFound(f"call {attempt_id} does not exist")
    return found


@dataclass(frozen=True)
class LeadRecord:
    lead: Lead
    attempts: list[CallAttempt]


async def lead(store: Store, tenant_id: int, lead_id: int) -> LeadRecord:
    async with store.unit() as uow:
        try:
            found = await uow.leads.get(lead_id)
            await owned_campaign(uow, tenant_id, found.campaign_id)
        except NotFound:
            raise NotFound(f"lead {lead_id} does not exist") from None
        return LeadRecord(found, await uow.attempts.of_lead(lead_id))

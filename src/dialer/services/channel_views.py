"""The messages of SMS and email steps as operators read them: a campaign's, a page at a time,
and a contact's, beside its calls in its history."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from dialer.domain.messages import Message
from dialer.domain.phone import normalize
from dialer.ports import Store
from dialer.ports.message_store import MessageQuery
from dialer.services.owned_campaigns import owned_campaign
from dialer.services.safety import HistoryEntry, contact_history


async def campaign_messages(store: Store, tenant_id: int, query: MessageQuery) -> list[Message]:
    """One page; another tenant's campaign is NotFound, like one that does not exist."""
    async with store.unit() as uow:
        await owned_campaign(uow, tenant_id, query.campaign_id)
        return await uow.messages.find(query)


@dataclass(frozen=True)
class MessageEntry:
    campaign: str
    message: Message

    @property
    def started_at(self) -> datetime:
        return self.message.created_at


Entry = HistoryEntry | MessageEntry


async def contact_timeline(store: Store, tenant: str, number: str, limit: int) -> list[Entry]:
    """The contact's calls and messages across the tenant's campaigns, newest first: calls
    to the number, SMS to it, and email to the address its ``email`` attribute holds.
    InvalidInput (naming ``number``) when the number is not one."""
    calls = await contact_history(store, tenant, number, limit)
    phone = normalize(number)  # checked by contact_history: a bad one never gets here
    async with store.unit() as uow:
        tenant_id = await uow.tenants.id_for(tenant)
        found = await uow.messages.for_contact(tenant_id, phone, limit)
    entries: list[Entry] = [*calls, *(MessageEntry(name, m) for m, name in found)]
    entries.sort(key=_newest_first)
    return entries[:limit]


def _newest_first(entry: Entry) -> float:
    at = entry.started_at
    return -at.timestamp() if at is not None else math.inf

"""What a claim of due messages reads about them, in one statement per kind for the whole
batch: their campaigns, leads and contacts, their tenants' settings, and for each tenant and
channel the addresses on the do-not-contact lists, opted out, and already messaged within the
frequency cap's window. A claim of 200 messages costs a dozen statements, not a thousand."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dialer.domain.channels import Channel
from dialer.domain.messages import Message
from dialer.domain.model import Campaign, Contact, Lead
from dialer.domain.safety import NumberPolicy
from dialer.ports import UnitOfWork
from dialer.services.safety import policy_from

Audience = tuple[int, Channel]  # a tenant's recipients on one channel


@dataclass
class ClaimReads:
    campaigns: dict[int, Campaign]
    leads: dict[int, Lead]
    contacts: dict[int, Contact]
    tenants: Mapping[int, Mapping[str, Any]]
    policies: dict[int, NumberPolicy]
    listed: dict[int, set[str]]  # tenant -> its numbers on a do-not-call list (or the global)
    opted_out: dict[Audience, set[str]]
    sent: dict[Audience, dict[str, int]] = field(default_factory=dict)

    def refusal(self, message: Message) -> str | None:
        """Why the message must not go at all, if it must not."""
        if not message.to:
            return "the contact has no email address"  # a number every lead has
        if self.leads[message.lead_id].phone in self.listed[message.tenant_id]:
            return "on a do-not-call list"
        if message.to in self.opted_out[(message.tenant_id, message.channel)]:
            return f"opted out of {message.channel}"
        return None

    def over_frequency_cap(self, message: Message, now: datetime) -> datetime | None:
        """When to look again, if the address already had the tenant's number policy's worth
        of messages of this channel within its window (as a number has of calls); otherwise
        None, and the message counts from now on, so two of one batch to one address are
        counted as two."""
        policy = self.policies[message.tenant_id]
        counts = self.sent[(message.tenant_id, message.channel)]
        if counts.get(message.to, 0) >= policy.max_attempts:
            return now + timedelta(seconds=min(policy.window, FREQUENCY_RECHECK))
        counts[message.to] = counts.get(message.to, 0) + 1
        return None


FREQUENCY_RECHECK = 3600  # seconds before a capped message is looked at again


async def read_for_claim(
    uow: UnitOfWork, claimed: Sequence[Message], now: datetime, default_policy: NumberPolicy
) -> ClaimReads:
    leads = await uow.leads.get_many({m.lead_id for m in claimed})
    campaigns = {cid: await uow.campaigns.get(cid) for cid in {m.campaign_id for m in claimed}}
    tenants = {tid: await uow.tenants.settings(tid) for tid in {m.tenant_id for m in claimed}}
    policies = {tid: policy_from(values, default_policy) for tid, values in tenants.items()}
    reads = ClaimReads(
        campaigns=campaigns,
        leads=leads,
        contacts=await uow.contacts.get_many({lead.contact_id for lead in leads.values()}),
        tenants=tenants,
        policies=policies,
        listed={},
        opted_out={},
    )
    numbers: dict[int, set[str]] = defaultdict(set)
    addresses: dict[Audience, set[str]] = defaultdict(set)
    for message in claimed:
        numbers[message.tenant_id].add(leads[message.lead_id].phone)
        addresses[(message.tenant_id, message.channel)].add(message.to)
    for tenant_id, phones in numbers.items():
        reads.listed[tenant_id] = await uow.do_not_call.listed(tenant_id, sorted(phones))
    for (tenant_id, channel), group in addresses.items():
        to = sorted(group)
        since = now - timedelta(seconds=policies[tenant_id].window)
        audience = (tenant_id, channel)
        reads.opted_out[audience] = await uow.messages.opted_out(tenant_id, channel, to)
        reads.sent[audience] = await uow.messages.sent_since(tenant_id, channel, to, since)
    return reads

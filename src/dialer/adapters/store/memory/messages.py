"""Messages of SMS and email steps, their provider events, and per-channel opt-outs."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.adapters.store.memory.database import OptOutRow
from dialer.domain.channels import Channel, listed_address
from dialer.domain.messages import Message, NewMessage
from dialer.domain.statuses import TERMINAL_MESSAGE, CampaignStatus, MessageStatus
from dialer.errors import NotFound
from dialer.ports.message_store import (
    EMAIL_ATTRIBUTE,
    Lease,
    MessageQuery,
    NewMessageEvent,
    OptOut,
)

_WAITING_FOR_RECEIPT = frozenset({MessageStatus.QUEUED, MessageStatus.SENT})


def _copy(message: Message) -> Message:
    """Stored messages are never handed out: a caller's change reaches the store by save()."""
    return dataclasses.replace(message)


class MemoryMessages(MemoryRepository):
    async def add(self, new: Sequence[NewMessage], now: datetime) -> int:
        added = 0
        for draft in new:
            if self._db.messages.find("step", (draft.lead_id, draft.step)) is not None:
                continue
            message_id = self._db.messages.next_id()
            fields = {f.name: getattr(draft, f.name) for f in dataclasses.fields(draft)}
            message = Message(id=message_id, status=MessageStatus.PENDING, created_at=now, **fields)
            self._db.messages.put(message_id, message)
            added += 1
        return added

    def _running(self, campaign_id: int) -> bool:
        campaign = self._db.campaigns.get(campaign_id)
        # A completed campaign's message is due only when replayed from the dead-letter queue.
        sending = {CampaignStatus.RUNNING, CampaignStatus.COMPLETED}
        return campaign is not None and campaign.status in sending

    async def claim_due(self, now: datetime, limit: int) -> list[Message]:
        due = [
            m
            for m in self._db.messages.group("pending", True)
            if m.due_at <= now and self._running(m.campaign_id)
        ]
        due.sort(key=lambda m: (m.due_at, m.id))
        return [_copy(m) for m in due[: max(limit, 0)]]

    async def start_sending(self, leases: Sequence[Lease], now: datetime) -> set[int]:
        started = set()
        for lease in leases:
            message = self._leased(lease.message_id, lease.leased_until)
            if message is not None:
                message.status, message.sent_at, message.error = MessageStatus.SENDING, now, None
                self._db.messages.put(message.id, message)
                started.add(message.id)
        return started

    async def release(self, message_id: int, leased_until: datetime, due_at: datetime) -> bool:
        message = self._leased(message_id, leased_until)
        if message is None:
            return False
        message.due_at = due_at
        self._db.messages.put(message_id, message)
        return True

    def _leased(self, message_id: int, leased_until: datetime) -> Message | None:
        found = self._db.messages.get(message_id)
        if found is None or found.status is not MessageStatus.PENDING:
            return None
        return _copy(found) if found.due_at == leased_until else None

    async def get(self, message_id: int, lock: bool = False) -> Message | None:
        found = self._db.messages.get(message_id)
        return None if found is None else _copy(found)

    async def by_provider_id(self, provider_message_id: str, lock: bool = False) -> Message | None:
        found = self._db.messages.find("provider_id", provider_message_id)
        return None if found is None else _copy(found)

    async def get_many(
        self, message_ids: Collection[int], lock: bool = False
    ) -> dict[int, Message]:
        found = (self._db.messages.get(message_id) for message_id in sorted(message_ids))
        return {m.id: _copy(m) for m in found if m is not None}

    async def save_many(self, batch: Sequence[Message]) -> None:
        for message in batch:
            await self.save(message)

    async def save(self, message: Message) -> None:
        if self._db.messages.get(message.id) is None:
            raise NotFound(f"message {message.id}")
        self._db.messages.put(message.id, _copy(message))

    async def record_events(
        self, events: Sequence[NewMessageEvent], received_at: datetime
    ) -> set[tuple[int, str]]:
        new = set()
        for event in events:
            key = (event.message_id, event.dedupe_key[:64])
            if self._db.message_events.get(key) is None:
                self._db.message_events.put(key, event.progress)
                new.add(key)
        return new

    async def to_settle(self, now: datetime, sent_before: datetime, limit: int) -> list[Message]:
        def over(m: Message) -> bool:
            if m.status in TERMINAL_MESSAGE:
                return True
            if m.channel is Channel.EMAIL and m.status is MessageStatus.SENT:
                return True
            sent = m.sent_at is not None and m.sent_at <= sent_before
            return m.status in _WAITING_FOR_RECEIPT and sent

        found = sorted(
            (m for m in self._db.messages.group("unsettled", True) if over(m)), key=lambda m: m.id
        )
        return [_copy(m) for m in found[: max(limit, 0)]]

    async def stuck_sending(self, before: datetime, limit: int) -> list[Message]:
        found = sorted(
            (
                m
                for m in self._db.messages.group("unsettled", True)
                if m.status is MessageStatus.SENDING and m.sent_at and m.sent_at <= before
            ),
            key=lambda m: m.id,
        )
        return [_copy(m) for m in found[: max(limit, 0)]]

    async def open_in_campaign(self, campaign_id: int) -> int:
        return sum(
            1 for m in self._db.messages.group("campaign", campaign_id) if m.settled_at is None
        )

    async def cancel_campaign(self, campaign_id: int, now: datetime) -> int:
        cancelled = 0
        for m in self._db.messages.group("campaign", campaign_id):
            if m.status is MessageStatus.PENDING:
                changed = dataclasses.replace(m, status=MessageStatus.CANCELLED, settled_at=now)
                self._db.messages.put(m.id, changed)
                cancelled += 1
        return cancelled

    async def counts(self, campaign_id: int) -> dict[tuple[Channel, MessageStatus], int]:
        counted: dict[tuple[Channel, MessageStatus], int] = {}
        for m in self._db.messages.group("campaign", campaign_id):
            counted[(m.channel, m.status)] = counted.get((m.channel, m.status), 0) + 1
        return counted

    async def for_lead(self, lead_id: int) -> list[Message]:
        found = [m for m in self._db.messages.rows() if m.lead_id == lead_id]
        return [_copy(m) for m in sorted(found, key=lambda m: m.step)]

    async def find(self, query: MessageQuery) -> list[Message]:
        def wanted(m: Message) -> bool:
            of_channel = not query.channels or m.channel in query.channels
            of_status = not query.statuses or m.status in query.statuses
            return m.id > query.after_id and of_channel and of_status

        found = sorted(
            (m for m in self._db.messages.group("campaign", query.campaign_id) if wanted(m)),
            key=lambda m: m.id,
        )
        return [_copy(m) for m in found[: max(query.limit, 0)]]

    async def for_contact(
        self, tenant_id: int, phone: str, limit: int
    ) -> list[tuple[Message, str]]:
        contact = self._db.contacts.find("phone", (tenant_id, phone))
        email = contact.attributes.get(EMAIL_ATTRIBUTE) if contact is not None else None
        addresses = {(Channel.SMS, phone)} | ({(Channel.EMAIL, email)} if email else set())
        found = sorted(
            (
                m
                for m in self._db.messages.rows()
                if m.tenant_id == tenant_id and (m.channel, m.to) in addresses
            ),
            key=lambda m: (m.created_at, m.id),
            reverse=True,
        )
        return [
            (_copy(m), campaign.settings.name)
            for m in found
            if (campaign := self._db.campaigns.get(m.campaign_id)) is not None
        ][: max(limit, 0)]

    async def due_later(self, campaign_id: int, now: datetime) -> dict[Channel, int]:
        counted: dict[Channel, int] = {}
        for m in self._db.messages.group("campaign", campaign_id):
            if m.status is MessageStatus.PENDING and m.due_at > now:
                counted[m.channel] = counted.get(m.channel, 0) + 1
        return counted

    async def totals(
        self, tenant_id: int | None = None
    ) -> dict[tuple[Channel, MessageStatus], int]:
        counted: dict[tuple[Channel, MessageStatus], int] = {}
        for m in self._db.messages.rows():
            if tenant_id is None or m.tenant_id == tenant_id:
                counted[(m.channel, m.status)] = counted.get((m.channel, m.status), 0) + 1
        return counted

    async def sent_since(
        self, tenant_id: int, channel: Channel, addresses: Sequence[str], since: datetime
    ) -> dict[str, int]:
        wanted, counted = set(addresses), dict[str, int]()
        for m in self._db.messages.rows():
            ours = m.tenant_id == tenant_id and m.channel is channel and m.to in wanted
            if ours and m.sent_at is not None and m.sent_at >= since:
                counted[m.to] = counted.get(m.to, 0) + 1
        return counted

    async def opted_out(
        self, tenant_id: int, channel: Channel, addresses: Sequence[str]
    ) -> set[str]:
        table = self._db.channel_opt_outs
        return {
            a
            for a in addresses
            if table.get((tenant_id, channel.value, listed_address(channel, a))) is not None
        }

    async def opt_out(
        self, tenant_id: int, channel: Channel, address: str, reason: str, now: datetime
    ) -> bool:
        address = listed_address(channel, address)
        key = (tenant_id, channel.value, address)
        if self._db.channel_opt_outs.get(key) is not None:
            return False
        entry = OptOut(self._db.channel_opt_outs.next_id(), channel, address, reason[:200], now)
        self._db.channel_opt_outs.put(key, OptOutRow(tenant_id, entry))
        return True

    async def opt_in(self, tenant_id: int, channel: Channel, address: str) -> bool:
        key = (tenant_id, channel.value, listed_address(channel, address))
        return self._db.channel_opt_outs.delete(key) is not None

    async def opt_outs(
        self, tenant_id: int, channel: Channel, after_id: int, limit: int
    ) -> list[OptOut]:
        rows = self._db.channel_opt_outs.group("list", (tenant_id, channel.value))
        found = sorted((r.entry for r in rows if r.entry.id > after_id), key=lambda e: e.id)
        return found[: max(limit, 0)]

    async def opt_out_counts(self, tenant_id: int) -> dict[Channel, int]:
        table = self._db.channel_opt_outs
        sizes = {c: table.group_size("list", (tenant_id, c.value)) for c in Channel}
        return {channel: size for channel, size in sizes.items() if size}

    async def tenants_of_reply(self, sender: str, contact: str) -> list[int]:
        used = [m for m in self._db.messages.rows() if m.sender == sender]
        to_contact = {m.tenant_id for m in used if m.to == contact}
        return sorted(to_contact or {m.tenant_id for m in used})

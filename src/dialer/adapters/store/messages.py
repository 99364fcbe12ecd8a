"""Messages of SMS and email steps, their provider events, and per-channel opt-outs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, tuple_, update

from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.message_tables import channel_opt_outs, message_events, messages
from dialer.adapters.store.tables import campaigns, contacts
from dialer.domain.channels import Channel, listed_address
from dialer.domain.messages import Message, NewMessage
from dialer.domain.statuses import TERMINAL_MESSAGE, CampaignStatus, MessageStatus
from dialer.ports.message_store import (
    EMAIL_ATTRIBUTE,
    Lease,
    MessageQuery,
    NewMessageEvent,
    OptOut,
)

_M = messages.c
_O = channel_opt_outs.c
_WAITING_FOR_RECEIPT = [MessageStatus.QUEUED.value, MessageStatus.SENT.value]


def _message(row: Any) -> Message:
    return Message(
        id=row.id,
        tenant_id=row.tenant_id,
        campaign_id=row.campaign_id,
        lead_id=row.lead_id,
        step=row.step,
        channel=Channel(row.channel),
        to=row.to_address,
        sender=row.sender,
        status=MessageStatus(row.status),
        due_at=row.due_at,
        created_at=row.created_at,
        zone_key=row.zone_key,
        outcomes=tuple(row.outcomes),
        provider_message_id=row.provider_message_id,
        segments=row.segments,
        error=row.error,
        sent_at=row.sent_at,
        settled_at=row.settled_at,
        token=row.token,
        tries=row.tries,
    )


def _new_row(message: NewMessage, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": message.tenant_id,
        "campaign_id": message.campaign_id,
        "lead_id": message.lead_id,
        "step": message.step,
        "channel": message.channel.value,
        "to_address": message.to,
        "sender": message.sender,
        "status": MessageStatus.PENDING.value,
        "due_at": message.due_at,
        "created_at": now,
        "zone_key": message.zone_key,
        "outcomes": list(message.outcomes),
        "token": message.token,
    }


def _saved(message: Message) -> dict[str, Any]:
    return {
        "message_id": message.id,
        "status": message.status.value,
        "due_at": message.due_at,
        "provider_message_id": message.provider_message_id,
        "segments": message.segments,
        "error": None if message.error is None else message.error[:300],
        "sent_at": message.sent_at,
        "settled_at": message.settled_at,
        "tries": message.tries,
    }


class SqlMessages(SqlRepository):
    async def add(self, new: Sequence[NewMessage], now: datetime) -> int:
        stmt = (
            self._insert(messages)
            .on_conflict_do_nothing(index_elements=["lead_id", "step"])
            .returning(_M.id)
        )
        added = 0
        for message in new:
            added += (await self._conn.execute(stmt, _new_row(message, now))).first() is not None
        return added

    async def claim_due(self, now: datetime, limit: int) -> list[Message]:
        # A completed campaign's message is due only when replayed from the dead-letter queue.
        sending = [CampaignStatus.RUNNING.value, CampaignStatus.COMPLETED.value]
        running = select(campaigns.c.id).where(campaigns.c.status.in_(sending))
        stmt = (
            select(messages)
            .where(
                _M.status == MessageStatus.PENDING.value,
                _M.due_at <= now,
                _M.campaign_id.in_(running),
            )
            .order_by(_M.due_at, _M.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_message(row) for row in await self._conn.execute(stmt)]

    async def start_sending(self, leases: Sequence[Lease], now: datetime) -> set[int]:
        if not leases:
            return set()
        held = [(lease.message_id, lease.leased_until) for lease in leases]
        stmt = (
            update(messages)
            .where(
                _M.status == MessageStatus.PENDING.value,
                tuple_(_M.id, _M.due_at).in_(held),
            )
            .values(status=MessageStatus.SENDING.value, sent_at=now, error=None)
            .returning(_M.id)
        )
        return {row.id for row in await self._conn.execute(stmt)}

    async def release(self, message_id: int, leased_until: datetime, due_at: datetime) -> bool:
        stmt = (
            update(messages)
            .where(
                _M.id == message_id,
                _M.status == MessageStatus.PENDING.value,
                _M.due_at == leased_until,
            )
            .values(due_at=due_at)
        )
        return int((await self._conn.execute(stmt)).rowcount) == 1

    async def get_many(
        self, message_ids: Collection[int], lock: bool = False
    ) -> dict[int, Message]:
        if not message_ids:
            return {}
        stmt = select(messages).where(_M.id.in_(sorted(message_ids))).order_by(_M.id)
        found = await self._conn.execute(stmt.with_for_update() if lock else stmt)
        return {row.id: _message(row) for row in found}

    async def get(self, message_id: int, lock: bool = False) -> Message | None:
        stmt = select(messages).where(_M.id == message_id)
        return await self._one(stmt.with_for_update() if lock else stmt)

    async def by_provider_id(self, provider_message_id: str, lock: bool = False) -> Message | None:
        stmt = select(messages).where(_M.provider_message_id == provider_message_id)
        return await self._one(stmt.with_for_update() if lock else stmt)

    async def _one(self, stmt: Any) -> Message | None:
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else _message(row)

    async def save(self, message: Message) -> None:
        await self.save_many([message])

    async def save_many(self, batch: Sequence[Message]) -> None:
        if not batch:
            return
        stmt = (
            update(messages)
            .where(_M.id == bindparam("message_id"))
            .values(
                status=bindparam("status"),
                due_at=bindparam("due_at"),
                provider_message_id=bindparam("provider_message_id"),
                segments=bindparam("segments"),
                error=bindparam("error"),
                sent_at=bindparam("sent_at"),
                settled_at=bindparam("settled_at"),
                tries=bindparam("tries"),
            )
        )
        await self._conn.execute(stmt, [_saved(message) for message in batch])

    async def record_events(
        self, events: Sequence[NewMessageEvent], received_at: datetime
    ) -> set[tuple[int, str]]:
        if not events:
            return set()
        rows = [
            {
                "message_id": event.message_id,
                "dedupe_key": event.dedupe_key[:64],
                "progress": event.progress,
                "received_at": received_at,
                "payload": dict(event.payload),
            }
            for event in events
        ]
        stmt = (
            self._insert(message_events)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["message_id", "dedupe_key"])
            .returning(message_events.c.message_id, message_events.c.dedupe_key)
        )
        return {(row.message_id, row.dedupe_key) for row in await self._conn.execute(stmt)}

    async def to_settle(self, now: datetime, sent_before: datetime, limit: int) -> list[Message]:
        over = or_(
            _M.status.in_([s.value for s in TERMINAL_MESSAGE]),
            and_(_M.status.in_(_WAITING_FOR_RECEIPT), _M.sent_at <= sent_before),
            and_(_M.status == MessageStatus.SENT.value, _M.channel == Channel.EMAIL.value),
        )
        stmt = (
            select(messages)
            .where(_M.settled_at.is_(None), over)
            .order_by(_M.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_message(row) for row in await self._conn.execute(stmt)]

    async def stuck_sending(self, before: datetime, limit: int) -> list[Message]:
        stmt = (
            select(messages)
            .where(_M.status == MessageStatus.SENDING.value, _M.sent_at <= before)
            .order_by(_M.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_message(row) for row in await self._conn.execute(stmt)]

    async def open_in_campaign(self, campaign_id: int) -> int:
        stmt = select(func.count()).where(_M.campaign_id == campaign_id, _M.settled_at.is_(None))
        return int((await self._conn.execute(stmt)).scalar_one())

    async def cancel_campaign(self, campaign_id: int, now: datetime) -> int:
        stmt = (
            update(messages)
            .where(_M.campaign_id == campaign_id, _M.status == MessageStatus.PENDING.value)
            .values(status=MessageStatus.CANCELLED.value, settled_at=now)
        )
        return int((await self._conn.execute(stmt)).rowcount)

    async def counts(self, campaign_id: int) -> dict[tuple[Channel, MessageStatus], int]:
        stmt = (
            select(_M.channel, _M.status, func.count())
            .where(_M.campaign_id == campaign_id)
            .group_by(_M.channel, _M.status)
        )
        return {
            (Channel(channel), MessageStatus(status)): int(count)
            for channel, status, count in await self._conn.execute(stmt)
        }

    async def for_lead(self, lead_id: int) -> list[Message]:
        stmt = select(messages).where(_M.lead_id == lead_id).order_by(_M.step)
        return [_message(row) for row in await self._conn.execute(stmt)]

    async def find(self, query: MessageQuery) -> list[Message]:
        found = [_M.campaign_id == query.campaign_id, _M.id > query.after_id]
        if query.channels:
            found.append(_M.channel.in_([c.value for c in query.channels]))
        if query.statuses:
            found.append(_M.status.in_([s.value for s in query.statuses]))
        stmt = select(messages).where(*found).order_by(_M.id).limit(max(query.limit, 0))
        return [_message(row) for row in await self._conn.execute(stmt)]

    async def for_contact(
        self, tenant_id: int, phone: str, limit: int
    ) -> list[tuple[Message, str]]:
        to_contact = and_(_M.channel == Channel.SMS.value, _M.to_address == phone)
        email = await self._email_of(tenant_id, phone)
        if email:
            to_email = and_(_M.channel == Channel.EMAIL.value, _M.to_address == email)
            to_contact = or_(to_contact, to_email)
        stmt = (
            select(messages, campaigns.c.name.label("campaign_name"))
            .join(campaigns, campaigns.c.id == _M.campaign_id)
            .where(_M.tenant_id == tenant_id, to_contact)
            .order_by(_M.created_at.desc(), _M.id.desc())
            .limit(max(limit, 0))
        )
        return [(_message(row), row.campaign_name) for row in await self._conn.execute(stmt)]

    async def _email_of(self, tenant_id: int, phone: str) -> str | None:
        stmt = select(contacts.c.attributes).where(
            contacts.c.tenant_id == tenant_id, contacts.c.phone == phone
        )
        attributes = (await self._conn.execute(stmt)).scalar_one_or_none() or {}
        email = attributes.get(EMAIL_ATTRIBUTE)
        return email if isinstance(email, str) and email else None

    async def due_later(self, campaign_id: int, now: datetime) -> dict[Channel, int]:
        stmt = (
            select(_M.channel, func.count())
            .where(
                _M.campaign_id == campaign_id,
                _M.status == MessageStatus.PENDING.value,
                _M.settled_at.is_(None),  # the unsettled index holds every PENDING message
                _M.due_at > now,
            )
            .group_by(_M.channel)
        )
        return {Channel(channel): int(n) for channel, n in await self._conn.execute(stmt)}

    async def totals(
        self, tenant_id: int | None = None
    ) -> dict[tuple[Channel, MessageStatus], int]:
        stmt = select(_M.channel, _M.status, func.count()).group_by(_M.channel, _M.status)
        if tenant_id is not None:
            stmt = stmt.where(_M.tenant_id == tenant_id)
        return {
            (Channel(channel), MessageStatus(status)): int(count)
            for channel, status, count in await self._conn.execute(stmt)
        }

    async def sent_since(
        self, tenant_id: int, channel: Channel, addresses: Sequence[str], since: datetime
    ) -> dict[str, int]:
        if not addresses:
            return {}
        stmt = (
            select(_M.to_address, func.count())
            .where(
                _M.tenant_id == tenant_id,
                _M.channel == channel.value,
                _M.to_address.in_(list(addresses)),
                _M.sent_at >= since,
            )
            .group_by(_M.to_address)
        )
        return {address: int(count) for address, count in await self._conn.execute(stmt)}

    async def opted_out(
        self, tenant_id: int, channel: Channel, addresses: Sequence[str]
    ) -> set[str]:
        if not addresses:
            return set()
        o = channel_opt_outs.c
        keys = {listed_address(channel, a) for a in addresses}
        # Lists written before addresses were kept in lower case are read in lower case too.
        listed = func.lower(o.address) if channel is Channel.EMAIL else o.address
        stmt = select(listed).where(
            o.tenant_id == tenant_id, o.channel == channel.value, listed.in_(sorted(keys))
        )
        found = set((await self._conn.scalars(stmt)).all())
        return {a for a in addresses if listed_address(channel, a) in found}

    async def opt_out(
        self, tenant_id: int, channel: Channel, address: str, reason: str, now: datetime
    ) -> bool:
        row = {
            "tenant_id": tenant_id,
            "channel": channel.value,
            "address": listed_address(channel, address),
            "reason": reason[:200],
            "created_at": now,
        }
        stmt = (
            self._insert(channel_opt_outs)
            .on_conflict_do_nothing(index_elements=["tenant_id", "channel", "address"])
            .returning(channel_opt_outs.c.id)
        )
        return (await self._conn.execute(stmt, row)).first() is not None

    async def opt_in(self, tenant_id: int, channel: Channel, address: str) -> bool:
        o = channel_opt_outs.c
        listed = func.lower(o.address) if channel is Channel.EMAIL else o.address
        stmt = delete(channel_opt_outs).where(
            o.tenant_id == tenant_id,
            o.channel == channel.value,
            listed == listed_address(channel, address),
        )
        return int((await self._conn.execute(stmt)).rowcount) > 0

    async def opt_outs(
        self, tenant_id: int, channel: Channel, after_id: int, limit: int
    ) -> list[OptOut]:
        stmt = (
            select(channel_opt_outs)
            .where(_O.tenant_id == tenant_id, _O.channel == channel.value, _O.id > after_id)
            .order_by(_O.id)
            .limit(max(limit, 0))
        )
        return [
            OptOut(row.id, Channel(row.channel), row.address, row.reason, row.created_at)
            for row in await self._conn.execute(stmt)
        ]

    async def opt_out_counts(self, tenant_id: int) -> dict[Channel, int]:
        stmt = (
            select(_O.channel, func.count()).where(_O.tenant_id == tenant_id).group_by(_O.channel)
        )
        return {Channel(channel): int(n) for channel, n in await self._conn.execute(stmt)}

    async def tenants_of_reply(self, sender: str, contact: str) -> list[int]:
        to_contact = select(_M.tenant_id).where(_M.sender == sender, _M.to_address == contact)
        found = list((await self._conn.scalars(to_contact.distinct())).all())
        if found:
            return found
        from_sender = select(_M.tenant_id).where(_M.sender == sender).distinct()
        return list((await self._conn.scalars(from_sender)).all())

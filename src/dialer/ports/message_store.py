"""The store's repository of messages, their provider events and the per-channel opt-outs."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from dialer.domain.channels import Channel
from dialer.domain.messages import Message, NewMessage
from dialer.domain.statuses import MessageStatus

EMAIL_ATTRIBUTE = "email"  # the contact attribute that holds its address for email steps


@dataclass(frozen=True)
class OptOut:
    """An address opted out of one channel by one tenant (a STOP reply, an unsubscribe link,
    an operator)."""

    id: int
    channel: Channel
    address: str
    reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class Lease:
    """A claim's hold on a message it has not started to send: its due_at while it waits."""

    message_id: int
    leased_until: datetime


@dataclass(frozen=True)
class NewMessageEvent:
    message_id: int
    dedupe_key: str  # at most 64 characters: what makes a repeat a repeat
    progress: str
    payload: Mapping[str, str]


@dataclass(frozen=True)
class MessageQuery:
    """A page of a campaign's messages, oldest first; empty filters match everything."""

    campaign_id: int
    after_id: int = 0
    limit: int = 100
    channels: tuple[Channel, ...] = ()
    statuses: tuple[MessageStatus, ...] = ()


class Messages(Protocol):
    async def add(self, messages: Sequence[NewMessage], now: datetime) -> int:
        """Record the messages of steps just decided; a lead's step that already has its
        message is left as it is (a decision repeated after a crash adds nothing). Returns
        how many were new."""
        ...

    async def claim_due(self, now: datetime, limit: int) -> list[Message]:
        """Due PENDING messages of running campaigns, locked (SKIP LOCKED): no other
        transaction claims them until this one ends."""
        ...

    async def start_sending(self, leases: Sequence[Lease], now: datetime) -> set[int]:
        """Mark claimed messages SENDING (the sent marker, before their requests), each only
        if still PENDING under the lease its claim gave it (``due_at == leased_until``); the
        ids marked. One left out: its lease ran out and another dispatcher claimed it, or
        its campaign was cancelled."""
        ...

    async def release(self, message_id: int, leased_until: datetime, due_at: datetime) -> bool:
        """Give a claimed, unsent message back, due at ``due_at``, if still under its lease."""
        ...

    async def get(self, message_id: int, lock: bool = False) -> Message | None: ...

    async def by_provider_id(
        self, provider_message_id: str, lock: bool = False
    ) -> Message | None: ...

    async def get_many(
        self, message_ids: Collection[int], lock: bool = False
    ) -> dict[int, Message]:
        """The messages among these ids, by id; locked in id order."""
        ...

    async def save(self, message: Message) -> None: ...

    async def save_many(self, messages: Sequence[Message]) -> None: ...

    async def record_events(
        self, events: Sequence[NewMessageEvent], received_at: datetime
    ) -> set[tuple[int, str]]:
        """Store provider events, each once; the (message id, dedupe key) of those that are
        new (a repeat, even within ``events``, is not)."""
        ...

    async def to_settle(self, now: datetime, sent_before: datetime, limit: int) -> list[Message]:
        """Unsettled messages whose step is over: terminal ones, and sent ones whose receipt
        did not come by ``sent_before`` (locked, SKIP LOCKED)."""
        ...

    async def stuck_sending(self, before: datetime, limit: int) -> list[Message]:
        """Messages marked SENDING before ``before`` and never heard of since (locked)."""
        ...

    async def open_in_campaign(self, campaign_id: int) -> int:
        """Messages of the campaign not yet settled: it is not finished while any remain."""
        ...

    async def cancel_campaign(self, campaign_id: int, now: datetime) -> int:
        """Cancel the campaign's PENDING messages; returns how many."""
        ...

    async def counts(self, campaign_id: int) -> dict[tuple[Channel, MessageStatus], int]: ...

    async def for_lead(self, lead_id: int) -> list[Message]: ...

    # ---- what operators read: pages, a contact's messages, figures

    async def find(self, query: MessageQuery) -> list[Message]:
        """A page of the campaign's messages, by id, after ``query.after_id``."""
        ...

    async def for_contact(
        self, tenant_id: int, phone: str, limit: int
    ) -> list[tuple[Message, str]]:
        """The tenant's messages to this contact, newest first, each with its campaign's name:
        SMS to the number, and email to the address the contact's ``email`` attribute holds."""
        ...

    async def due_later(self, campaign_id: int, now: datetime) -> dict[Channel, int]:
        """The campaign's PENDING messages not due yet (a step's ``after``, a closed window,
        a send put back), by channel."""
        ...

    async def totals(
        self, tenant_id: int | None = None
    ) -> dict[tuple[Channel, MessageStatus], int]:
        """Messages by channel and status, of one tenant or (None) of every tenant."""
        ...

    async def sent_since(
        self, tenant_id: int, channel: Channel, addresses: Sequence[str], since: datetime
    ) -> dict[str, int]:
        """How many messages of this channel each address was sent since ``since``, across
        the tenant's campaigns (the per-channel frequency cap)."""
        ...

    # ---- per-channel opt-outs (STOP replies, unsubscribe links); the do-not-call lists
    # (tenant and global) apply to every channel besides.

    async def opted_out(
        self, tenant_id: int, channel: Channel, addresses: Sequence[str]
    ) -> set[str]: ...

    async def opt_out(
        self, tenant_id: int, channel: Channel, address: str, reason: str, now: datetime
    ) -> bool:
        """True when the address was not opted out before."""
        ...

    async def opt_in(self, tenant_id: int, channel: Channel, address: str) -> bool: ...

    async def opt_outs(
        self, tenant_id: int, channel: Channel, after_id: int, limit: int
    ) -> list[OptOut]:
        """A page of the tenant's opt-outs of the channel, in the order they were made."""
        ...

    async def opt_out_counts(self, tenant_id: int) -> dict[Channel, int]:
        """How many addresses the tenant has opted out of each channel (absent: none)."""
        ...

    async def tenants_of_reply(self, sender: str, contact: str) -> list[int]:
        """The tenants a reply from ``contact`` to our ``sender`` concerns: those that sent
        that contact a message from that sender, or else every tenant that sends from it
        (an opt-out is never dropped for want of an owner)."""
        ...

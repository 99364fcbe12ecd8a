"""The store's repository of messages, their provider events and the per-channel opt-outs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from dialer.domain.channels import Channel
from dialer.domain.messages import Message, NewMessage
from dialer.domain.statuses import MessageStatus


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

    async def get(self, message_id: int, lock: bool = False) -> Message | None: ...

    async def by_provider_id(
        self, provider_message_id: str, lock: bool = False
    ) -> Message | None: ...

    async def save(self, message: Message) -> None: ...

    async def record_event(
        self,
        message_id: int,
        dedupe_key: str,
        progress: str,
        received_at: datetime,
        payload: Mapping[str, str],
    ) -> bool:
        """Store a provider event once; False when it was recorded before (a repeat)."""
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

    async def tenants_of_reply(self, sender: str, contact: str) -> list[int]:
        """The tenants a reply from ``contact`` to our ``sender`` concerns: those that sent
        that contact a message from that sender, or else every tenant that sends from it
        (an opt-out is never dropped for want of an owner)."""
        ...

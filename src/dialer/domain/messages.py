"""Messages: one SMS or email of one step of one lead, and the outcome word it gives the
steps after it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dialer.domain.channels import Channel
from dialer.domain.statuses import TERMINAL_MESSAGE, MessageStatus, can_move_message
from dialer.errors import Conflict

_OUTCOME_OF = {
    MessageStatus.QUEUED: "sent",  # settled without a receipt: it left, nothing more is known
    MessageStatus.SENT: "sent",
    MessageStatus.DELIVERED: "delivered",
    MessageStatus.UNDELIVERED: "undelivered",
    MessageStatus.FAILED: "failed",
    MessageStatus.SKIPPED: "skipped",
    MessageStatus.CANCELLED: "skipped",
}


@dataclass
class Message:
    id: int
    tenant_id: int
    campaign_id: int
    lead_id: int
    step: int  # the campaign step it carries out (1 = the first step after the call)
    channel: Channel
    to: str  # E.164 for SMS, an address for email
    sender: str
    status: MessageStatus
    due_at: datetime
    created_at: datetime
    zone_key: str  # the contact's time zones, for its window
    outcomes: tuple[str, ...] = ()  # the lead's outcomes before this step (for the next one)
    provider_message_id: str | None = None
    segments: int | None = None
    error: str | None = None
    sent_at: datetime | None = None
    settled_at: datetime | None = None  # when the lead moved on to its next step (or ended)
    token: str = ""  # the secret part of its unsubscribe link
    tries: int = 0  # sends the provider could not take (down, refusing us); not throttling

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_MESSAGE

    @property
    def outcome(self) -> str:
        """The word later steps' ``when`` see: ``sms.delivered``, ``email.bounced`` ..."""
        word = _OUTCOME_OF.get(self.status, "failed")
        if self.channel is Channel.EMAIL and word == "undelivered":
            word = "bounced"
        return f"{self.channel}.{word}"

    def move_to(self, target: MessageStatus) -> None:
        if not can_move_message(self.status, target):
            raise Conflict(f"message {self.id} is {self.status}; it cannot become {target}")
        self.status = target


@dataclass(frozen=True)
class NewMessage:
    tenant_id: int
    campaign_id: int
    lead_id: int
    step: int
    channel: Channel
    to: str
    sender: str
    due_at: datetime
    zone_key: str
    outcomes: tuple[str, ...]
    token: str  # random, unguessable: the unsubscribe link carries it

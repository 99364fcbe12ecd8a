"""The messaging port: send an SMS or an email, and what providers report about messages.

A message is sent at most once per step of a lead: the service commits a sent marker before
calling ``send``, exactly as for calls. A send whose answer was lost
(``ProviderOutcomeUnknown``) is never repeated blindly; the message's status callback, or
its absence until the safety delay, settles it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class MessageProgress(StrEnum):
    """What a provider tells about a message, in provider-neutral words (Twilio's message
    statuses; an SMTP server's acceptance is ``sent``, a bounce ``undelivered``)."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


@dataclass(frozen=True)
class SmsRequest:
    message_id: int  # our message row: the idempotency handle
    to: str  # E.164
    from_: str  # E.164 sender (long code, toll-free or short code)
    body: str
    status_callback_url: str


@dataclass(frozen=True)
class EmailRequest:
    message_id: int
    to: str  # the contact's address
    from_: str  # "Name <address>" or a bare address
    subject: str
    text: str
    html: str | None
    unsubscribe_url: str  # List-Unsubscribe (one-click POST, RFC 8058)
    message_domain: str  # the right-hand side of the Message-ID we generate


@dataclass(frozen=True)
class MessageAccepted:
    """The provider took the message: its id (Twilio's SID, or the email's Message-ID) and
    the status it reported at once."""

    provider_message_id: str
    progress: MessageProgress = MessageProgress.QUEUED
    segments: int | None = None  # as the provider counted them, when it says


@dataclass(frozen=True)
class MessageEvent:
    """A message status callback, in provider-neutral words."""

    provider_message_id: str
    progress: MessageProgress
    occurred_at: datetime | None = None
    error_code: str | None = None
    raw: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundMessage:
    """A message a contact sent to one of our senders (STOP, START, HELP, anything else)."""

    provider_message_id: str
    from_: str  # the contact, E.164
    to: str  # our sender, E.164
    body: str


class SmsSender(Protocol):
    name: str

    async def send_sms(self, request: SmsRequest) -> MessageAccepted:
        """Send one SMS. Raises ProviderRejected (never sent: bad number, opted out at the
        carrier), ProviderThrottled / ProviderUnavailable (not sent; try later) or
        ProviderOutcomeUnknown (may have been sent)."""
        ...

    async def aclose(self) -> None: ...


class EmailSender(Protocol):
    name: str

    async def send_email(self, request: EmailRequest) -> MessageAccepted:
        """Hand one email to the SMTP server. Raises ProviderRejected (a permanent 5xx reply:
        the address or the content was refused), ProviderUnavailable (connection refused, a 4xx
        reply: not sent) or ProviderOutcomeUnknown (the connection dropped after DATA)."""
        ...

    async def aclose(self) -> None: ...

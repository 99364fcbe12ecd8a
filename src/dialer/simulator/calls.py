"""One simulated call: its state, its Call resource JSON and its status-callback forms."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dialer.simulator import wire
from dialer.simulator.delivery import Delivery

# Twilio's REST resource has no "initiated" status: the call stays "queued" until it rings.
REST_STATUS = {wire.INITIATED: wire.QUEUED}
PRICE_PLACES = Decimal("0.00001")  # Twilio's prices: "-0.01300"


@dataclass(slots=True)
class Outbox:
    """A call's status callbacks, delivered one after another in order."""

    last: asyncio.Task[None] | None = None  # the delivery the next one waits for
    held: Delivery | None = None  # held back to arrive late (reorder fault)


@dataclass(slots=True, eq=False)
class Call:
    sid: str
    account_sid: str
    request: wire.CreateRequest
    created_at: datetime
    updated_at: datetime
    campaign: str | None = None  # the observer's tag: see campaign_of()
    status: str = wire.QUEUED  # the latest wire status
    start_time: datetime | None = None
    end_time: datetime | None = None
    answered_at: float | None = None  # simulated clock reading
    answered_wall: datetime | None = None  # the same moment on the wall clock (Plivo reports it)
    duration: int | None = None
    sip: int | None = None
    next_sequence: int = 0
    lifecycle: asyncio.Task[None] | None = None
    outbox: Outbox = field(default_factory=Outbox)
    machine: bool = False  # an answering machine answers (or answered) it
    answered_by: str | None = None  # what detection reported (Twilio's AnsweredBy words)
    ended_at: float | None = None  # simulated clock reading
    price: Decimal | None = None  # what it cost, set as it ends (shown once priced: resource)
    price_unit: str = "USD"

    @property
    def ended(self) -> bool:
        return self.status in wire.TERMINAL

    def resource(self, priced: bool = False) -> dict[str, Any]:
        """The Call resource; ``priced``: Twilio has priced the ended call (its ``price``
        shows, as a debit: negative, to 5 places)."""
        request = self.request
        price = self.price if priced else None
        uri = wire.call_uri(self.account_sid, self.sid)
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "parent_call_sid": None,
            "date_created": wire.rfc2822(self.created_at),
            "date_updated": wire.rfc2822(self.updated_at),
            "to": request.to,
            "to_formatted": request.to,
            "from": request.from_,
            "from_formatted": request.from_,
            "phone_number_sid": None,
            "status": REST_STATUS.get(self.status, self.status),
            "start_time": wire.rfc2822(self.start_time),
            "end_time": wire.rfc2822(self.end_time),
            "duration": str(self.duration) if self.duration is not None else None,
            "price": None if price is None else f"{-price:.5f}",
            "price_unit": self.price_unit,
            "direction": "outbound-api",
            "answered_by": self.answered_by,
            "annotation": None,
            "api_version": wire.API_VERSION,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": uri,
            "subresource_uris": {
                "notifications": uri.replace(".json", "/Notifications.json"),
                "recordings": uri.replace(".json", "/Recordings.json"),
                "events": uri.replace(".json", "/Events.json"),
            },
        }

    def callback_form(self, sequence: int, when: datetime) -> dict[str, str]:
        """The form Twilio POSTs to the StatusCallback for the call's current status."""
        request = self.request
        form = {
            "CallSid": self.sid,
            "AccountSid": self.account_sid,
            "From": request.from_,
            "Caller": request.from_,
            "To": request.to,
            "Called": request.to,
            "CallStatus": self.status,
            "Direction": "outbound-api",
            "ApiVersion": wire.API_VERSION,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(sequence),
            "Timestamp": wire.rfc2822(when) or "",
        }
        if self.answered_by is not None:
            form["AnsweredBy"] = self.answered_by
        if self.ended:
            duration = self.duration or 0
            form["CallDuration"] = str(duration)
            form["Duration"] = str(wire.minutes(duration))
            if self.sip is not None:
                form["SipResponseCode"] = str(self.sip)
        return form


def call_price(duration: int, per_minute: float) -> Decimal:
    """Twilio's price of a call that talked ``duration`` seconds: every started minute at
    ``per_minute``; nothing for a call not answered."""
    return (wire.minutes(duration) * Decimal(str(per_minute))).quantize(PRICE_PLACES)


def campaign_of(url: str | None) -> str | None:
    """The ``campaign`` query parameter of a StatusCallback URL, if any."""
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("campaign")
    return values[0] if values else None

"""One simulated SMS: its state, its Message resource JSON, its status-callback form, and the
form of a message a contact sends us (Twilio's inbound webhook)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dialer.simulator import sms_wire, wire


@dataclass(slots=True, eq=False)
class Message:
    sid: str
    account_sid: str
    request: sms_wire.SmsCreate
    segments: int
    created_at: datetime
    updated_at: datetime
    status: str = sms_wire.QUEUED
    date_sent: datetime | None = None
    error_code: int | None = None
    lifecycle: asyncio.Task[None] | None = None

    @property
    def ended(self) -> bool:
        return self.status in sms_wire.FINAL

    def resource(self) -> dict[str, Any]:
        request = self.request
        uri = sms_wire.message_uri(self.account_sid, self.sid)
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "api_version": wire.API_VERSION,
            "body": request.body,
            "date_created": wire.rfc2822(self.created_at),
            "date_updated": wire.rfc2822(self.updated_at),
            "date_sent": wire.rfc2822(self.date_sent),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": None,
            "from": request.from_,
            "to": request.to,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(self.segments),
            "price": None,
            "price_unit": "USD",
            "status": self.status,
            "uri": uri,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        }

    def callback_form(self) -> dict[str, str]:
        """The form Twilio POSTs to the StatusCallback for the message's current status."""
        request = self.request
        form = {
            "MessageSid": self.sid,
            "SmsSid": self.sid,
            "AccountSid": self.account_sid,
            "From": request.from_,
            "To": request.to,
            "MessageStatus": self.status,
            "SmsStatus": self.status,
            "ApiVersion": wire.API_VERSION,
        }
        if self.error_code is not None:
            form["ErrorCode"] = str(self.error_code)
        return form


def inbound_form(
    sid: str, account_sid: str, contact: str, sender: str, body: str
) -> dict[str, str]:
    """What Twilio POSTs to a number's messaging webhook when ``contact`` texts ``sender``."""
    form = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": account_sid,
        "From": contact,
        "To": sender,
        "Body": body,
        "NumSegments": str(sms_wire.segments(body)),
        "NumMedia": "0",
        "SmsStatus": sms_wire.RECEIVED,
        "ApiVersion": wire.API_VERSION,
    }
    opt_out = sms_wire.keyword(body)
    if opt_out is not None:  # Twilio's Advanced Opt-Out names the keyword it recognised
        form["OptOutType"] = opt_out
    return form

"""What the simulator says about SMS on the wire, shaped like Twilio's Messages API (2010-04-01):
message statuses, error codes, the create request, segment counting and opt-out keywords."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dialer.domain.sms import segments as sms_segments
from dialer.simulator import wire

QUEUED = "queued"
SENT = "sent"
DELIVERED = "delivered"
UNDELIVERED = "undelivered"
FAILED = "failed"
RECEIVED = "received"  # an inbound message
FINAL = frozenset({DELIVERED, UNDELIVERED, FAILED})

# Twilio's error codes for messages, as its REST API answers them.
NO_BODY = 21602
NO_FROM = 21603
NO_TO = 21604
BODY_TOO_LONG = 21617
OPTED_OUT = 21610
# ...and as its status callbacks report a message that did not arrive.
UNDELIVERED_CODES = (
    30003,  # unreachable destination handset
    30005,  # unknown destination handset
    30006,  # landline or unreachable carrier
    30007,  # filtered by the carrier
)
FAILED_CODES = (
    30001,  # queue overflow
    30008,  # unknown error
)

MAX_BODY = 1600  # characters, as Twilio counts them

# Twilio's default opt-out keywords: a message that is one of these words, in any case.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


@dataclass(frozen=True)
class SmsCreate:
    """A valid ``POST .../Messages.json``."""

    to: str
    from_: str
    body: str
    status_callback: str | None


SHORT_CODE = re.compile(r"[0-9]{5,6}")  # a carrier short code sends as well as a number


def parse_create(params: wire.Params) -> SmsCreate:
    """The parameters of ``POST .../Messages.json``; ApiError 400 with Twilio's code if
    invalid. Media and messaging services are not simulated: a message needs From and Body."""
    to, from_, body = (wire.first(params, name) for name in ("To", "From", "Body"))
    if not to:
        raise wire.ApiError(400, NO_TO, "A 'To' phone number is required.")
    if not from_:
        raise wire.ApiError(400, NO_FROM, "A 'From' phone number is required.")
    if not body:
        raise wire.ApiError(400, NO_BODY, "Message body is required.")
    if not wire.E164.match(to):
        message = f"The 'To' number {to} is not a valid phone number."
        raise wire.ApiError(400, wire.INVALID_TO, message)
    if not (wire.E164.match(from_) or SHORT_CODE.fullmatch(from_)):
        raise wire.ApiError(
            400,
            wire.INVALID_FROM,
            f"The 'From' number {from_} is not a valid phone number, shortcode, "
            "or alphanumeric sender ID.",
        )
    if len(body) > MAX_BODY:
        raise wire.ApiError(
            400, BODY_TOO_LONG, "The concatenated message body exceeds the 1600 character limit."
        )
    return SmsCreate(to, from_, body, wire.first(params, "StatusCallback") or None)


def opted_out_error() -> wire.ApiError:
    return wire.ApiError(400, OPTED_OUT, "Attempt to send to unsubscribed recipient")


def segments(body: str) -> int:
    """How many SMS segments ``body`` takes, as a carrier bills them: a character is never
    split across two parts (the same rule Dialer counts by)."""
    return sms_segments(body).count


def keyword(body: str) -> str | None:
    """STOP, START or HELP when ``body`` is one of Twilio's opt-out keywords, else None."""
    word = body.strip().upper()
    for name, words in (("STOP", STOP_WORDS), ("START", START_WORDS), ("HELP", HELP_WORDS)):
        if word in words:
            return name
    return None


def message_uri(account_sid: str, sid: str | None = None) -> str:
    base = f"/{wire.API_VERSION}/Accounts/{account_sid}/Messages"
    return f"{base}/{sid}.json" if sid else f"{base}.json"

"""What the simulator says on the wire, shaped like Twilio's 2010-04-01 API: call statuses,
error bodies, the Call resource JSON, list pages and status-callback forms."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")

QUEUED = "queued"
INITIATED = "initiated"
RINGING = "ringing"
IN_PROGRESS = "in-progress"
COMPLETED = "completed"
BUSY = "busy"
NO_ANSWER = "no-answer"
FAILED = "failed"
CANCELED = "canceled"
TERMINAL = frozenset({COMPLETED, BUSY, NO_ANSWER, FAILED, CANCELED})

# The StatusCallbackEvent that subscribes to each status; every terminal status is "completed".
EVENT_OF_STATUS: Mapping[str, str] = {
    INITIATED: "initiated",
    RINGING: "ringing",
    IN_PROGRESS: "answered",
    **dict.fromkeys(TERMINAL, "completed"),
}
CALLBACK_EVENTS = frozenset(EVENT_OF_STATUS.values())
DEFAULT_EVENTS = frozenset({"completed"})  # what Twilio sends when none are asked for

# Twilio's error codes, as its REST API answers them.
BAD_CREDENTIALS = 20003
NOT_FOUND = 20404
TOO_MANY_REQUESTS = 20429
INTERNAL_ERROR = 20500
SERVICE_UNAVAILABLE = 20503
INVALID_PARAMETER = 20001
NO_TO = 21201
NO_URL = 21205
INVALID_TO = 21211
INVALID_FROM = 21212
NO_FROM = 21213
CALL_NOT_LIVE = 21220
INVALID_EVENT = 21626


class ApiError(Exception):
    """A request the simulator refuses, with Twilio's HTTP status, error code and words."""

    def __init__(
        self, status: int, code: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def rfc2822(when: datetime | None) -> str | None:
    """'Tue, 10 Aug 2010 08:02:17 +0000', as Twilio dates everything."""
    return format_datetime(when.replace(microsecond=0)) if when is not None else None


def minutes(seconds: int) -> int:
    """Twilio's ``Duration`` callback field: call minutes, rounded up."""
    return math.ceil(seconds / 60)


@dataclass(frozen=True)
class CreateRequest:
    """A valid ``POST .../Calls.json``."""

    to: str
    from_: str
    status_callback: str | None
    events: frozenset[str]
    timeout: int
    time_limit: int
    extra: Mapping[str, str] = field(default_factory=dict)  # a dialect's own fields
    # Answering-machine detection asked for: "detect" (who answered, at once) or "detect_end"
    # (a machine once its greeting has ended); where its result is POSTed (None: nowhere).
    detection: str | None = None
    detection_url: str | None = None


def call_uri(account_sid: str, sid: str | None = None) -> str:
    base = f"/{API_VERSION}/Accounts/{account_sid}/Calls"
    return f"{base}/{sid}.json" if sid else f"{base}.json"


def list_page(
    account_sid: str,
    calls: Sequence[dict[str, Any]],
    *,
    filters: Mapping[str, str],
    page: int,
    page_size: int,
    more: bool,
) -> dict[str, Any]:
    """Twilio's page shape around a list of Call resources; its page URIs keep the filters."""
    uri = call_uri(account_sid)

    def page_uri(number: int) -> str:
        return f"{uri}?{urlencode({**filters, 'PageSize': page_size, 'Page': number})}"

    start = page * page_size
    return {
        "calls": list(calls),
        "start": start,
        "end": start + max(len(calls) - 1, 0),
        "page": page,
        "page_size": page_size,
        "uri": page_uri(page),
        "first_page_uri": page_uri(0),
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
        "next_page_uri": page_uri(page + 1) if more else None,
    }


# ---------------------------------------------------------------- requests

Params = Mapping[str, Sequence[str]]  # a decoded form or query string: name -> values
MAX_TIMEOUT = 600
MAX_TIME_LIMIT = 14400


def parse_create(params: Params) -> CreateRequest:
    """The parameters of ``POST .../Calls.json``; ApiError 400 with Twilio's code if invalid."""
    to, from_ = first(params, "To"), first(params, "From")
    if not to:
        raise ApiError(400, NO_TO, "A 'To' phone number is required.")
    if not from_:
        raise ApiError(400, NO_FROM, "A 'From' phone number is required.")
    if not (first(params, "Url") or first(params, "Twiml") or first(params, "ApplicationSid")):
        raise ApiError(400, NO_URL, "Either a 'Url', 'Twiml' or 'ApplicationSid' is required.")
    if not E164.match(to):
        raise ApiError(400, INVALID_TO, f"Invalid 'To' Phone Number: {to}")
    if not E164.match(from_):
        raise ApiError(400, INVALID_FROM, f"Invalid 'From' Phone Number: {from_}")
    if first(params, "StatusCallbackMethod", "POST").upper() != "POST":
        raise ApiError(400, INVALID_PARAMETER, "Only StatusCallbackMethod=POST is simulated.")
    detection = _machine_detection(params)
    return CreateRequest(
        to=to,
        from_=from_,
        status_callback=first(params, "StatusCallback") or None,
        events=_events(params),
        timeout=_bounded_int(params, "Timeout", 60, MAX_TIMEOUT),
        time_limit=_bounded_int(params, "TimeLimit", MAX_TIME_LIMIT, MAX_TIME_LIMIT),
        detection=detection,
        detection_url=_amd_callback(params) if detection else None,
        extra={"answer_url": url} if (url := first(params, "Url")) else {},
    )


MACHINE_DETECTION = {"Enable": "detect", "DetectMessageEnd": "detect_end"}


def _machine_detection(params: Params) -> str | None:
    value = first(params, "MachineDetection")
    if not value or value == "none":
        return None
    if value not in MACHINE_DETECTION:
        raise ApiError(400, INVALID_PARAMETER, f"Invalid 'MachineDetection': {value}")
    return MACHINE_DETECTION[value]


def _amd_callback(params: Params) -> str | None:
    """Where async AMD posts its result; synchronous AMD reports it only on the call."""
    if first(params, "AsyncAmd", "false").lower() != "true":
        return None
    if first(params, "AsyncAmdStatusCallbackMethod", "POST").upper() != "POST":
        raise ApiError(
            400, INVALID_PARAMETER, "Only AsyncAmdStatusCallbackMethod=POST is simulated."
        )
    return first(params, "AsyncAmdStatusCallback") or None


def first(params: Params, name: str, default: str = "") -> str:
    values = params.get(name)
    return values[0] if values else default


def _events(params: Params) -> frozenset[str]:
    # Repeated parameters, or one space-separated value: both are accepted by Twilio.
    events = frozenset(
        word for value in params.get("StatusCallbackEvent", ()) for word in value.split()
    )
    unknown = events - CALLBACK_EVENTS
    if unknown:
        raise ApiError(400, INVALID_EVENT, f"Invalid 'StatusCallbackEvent': {sorted(unknown)}")
    return events or DEFAULT_EVENTS


def _bounded_int(params: Params, name: str, default: int, most: int) -> int:
    """Like Twilio: a value above the maximum is lowered to it; one below 1 is refused."""
    text = first(params, name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ApiError(400, INVALID_PARAMETER, f"{name} must be a whole number of seconds >= 1")
    return min(value, most)

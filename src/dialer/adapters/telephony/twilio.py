"""Twilio (and Twilio-compatible) telephony: the REST calls and the status-callback format.

Answering-machine detection runs asynchronously (``AsyncAmd=true``): the call goes on at once
while Twilio listens, and the result (``AnsweredBy``, no ``CallStatus``) is POSTed to the
status callback URL as well. ``detect`` asks ``MachineDetection=Enable``; ``detect_end`` asks
``DetectMessageEnd``, whose ``machine_end_*`` result comes after the beep: the live call is
then given the voicemail's TwiML (``POST Calls/{sid}.json Twiml=...``), which ends with a hang-up.

Errors are translated here, at the boundary, into ``dialer.errors``:

==========================================  =========================================
what happened                               raised
==========================================  =========================================
HTTP 429                                    ProviderThrottled (Retry-After honoured)
HTTP 401/403 (bad credentials)              ProviderAuthFailed: not created, and not
                                            spent (an operator must fix the credentials)
HTTP 5xx                                    ProviderUnavailable
other HTTP 4xx                              ProviderRejected (Twilio's code + message)
connect error / connect or pool timeout     ProviderUnavailable: nothing was sent
read/write timeout, dropped connection      ProviderOutcomeUnknown on a POST: the request
                                            may have been acted on; ProviderUnavailable
                                            on a GET, which is safe to repeat
==========================================  =========================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from dialer.adapters.telephony import twiml
from dialer.adapters.telephony.twiml import DEFAULT_TWIML
from dialer.domain.machines import AnsweredBy, DetectionMode, Voicemail
from dialer.domain.statuses import CallProgress
from dialer.errors import (
    InvalidInput,
    Problem,
    ProviderAuthFailed,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from dialer.observability import tracing
from dialer.ports import CallPrice, CallRequest, ProviderEvent

TWILIO_API_BASE = "https://api.twilio.com"
API_VERSION = "2010-04-01"
# The status callbacks asked for. The attempt's states need only the answer and the ending
# ("completed" subscribes to every ending); the worker sets INITIATED when the create is
# accepted. Ringing is for operators who want to see it, at two more callbacks per call.
STATUS_CALLBACK_EVENTS = ("answered", "completed")
RINGING_CALLBACK_EVENTS = ("initiated", "ringing", *STATUS_CALLBACK_EVENTS)
# Endings that cost nothing when the call never connected (no duration): Twilio charges
# only for a connected call.
UNCHARGED_STATUSES = frozenset({"busy", "no-answer", "failed", "canceled"})
CALL_NOT_LIVE = 21220  # Twilio's code for "the call is not in a state that can be changed"
FIND_CALL_MAX_PAGES = 5

WIRE_STATUS_TO_PROGRESS: Mapping[str, CallProgress] = {
    "queued": CallProgress.QUEUED,
    "initiated": CallProgress.INITIATED,
    "ringing": CallProgress.RINGING,
    "in-progress": CallProgress.ANSWERED,
    "completed": CallProgress.COMPLETED,
    "busy": CallProgress.BUSY,
    "no-answer": CallProgress.NO_ANSWER,
    "failed": CallProgress.FAILED,
    "canceled": CallProgress.CANCELED,
}
MACHINE_DETECTION = {DetectionMode.DETECT: "Enable", DetectionMode.DETECT_END: "DetectMessageEnd"}
# AnsweredBy as Twilio reports it: (who, whether a machine's greeting has ended).
ANSWERED_BY: Mapping[str, tuple[AnsweredBy, bool]] = {
    "human": (AnsweredBy.HUMAN, False),
    "machine_start": (AnsweredBy.MACHINE, False),
    "machine_end_beep": (AnsweredBy.MACHINE, True),
    "machine_end_silence": (AnsweredBy.MACHINE, True),
    "machine_end_other": (AnsweredBy.MACHINE, True),
    "fax": (AnsweredBy.FAX, False),
    "unknown": (AnsweredBy.UNKNOWN, False),
}

# Transport errors raised before any byte of the request left: always safe to retry.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)


class TwilioRejected(ProviderRejected):
    """A definitive refusal, with Twilio's error code (21211: invalid To, 20003: bad
    credentials, 20404: no such call...) for callers that care which."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


class TwilioTelephony:
    """The ``Telephony`` port over Twilio's 2010-04-01 REST API, with one keep-alive pool.

    ``api_base`` is None (or ``TWILIO_API_BASE``) for the real Twilio, or another
    Twilio-compatible API's base URL, such as the simulator's. ``ringing_callbacks`` asks for
    the initiated and ringing callbacks too.
    """

    name = "twilio"
    leaves_voicemail = True
    reports_prices = True

    def __init__(
        self,
        api_base: str | None,
        account_sid: str,
        auth_token: str,
        *,
        timeout: float = 10.0,
        max_connections: int = 200,
        default_twiml: str = DEFAULT_TWIML,
        ringing_callbacks: bool = False,
    ) -> None:
        self._default_twiml = default_twiml
        self._events = RINGING_CALLBACK_EVENTS if ringing_callbacks else STATUS_CALLBACK_EVENTS
        root = (api_base or TWILIO_API_BASE).rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=f"{root}/{API_VERSION}/Accounts/{account_sid}/",
            auth=(account_sid, auth_token),
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"Accept": "application/json"},
            event_hooks={"request": [tracing.send_traceparent]},  # W3C trace context
        )

    async def create_call(self, request: CallRequest) -> str:
        response = await self._send("POST", "Calls.json", data=self._create_form(request))
        payload = _json_object(response, unsure=True)
        sid = payload.get("sid")
        if not isinstance(sid, str) or not sid:
            raise ProviderOutcomeUnknown("twilio answered a create without a call sid")
        return sid

    async def fetch_call(self, provider_call_id: str) -> ProviderEvent:
        response = await self._send("GET", f"Calls/{provider_call_id}.json")
        return call_resource_event(_json_object(response))

    async def call_price(self, provider_call_id: str) -> CallPrice | None:
        """The Call resource's ``price`` (filled some time after the call ends)."""
        response = await self._send("GET", f"Calls/{provider_call_id}.json")
        return call_resource_price(_json_object(response))

    async def find_call(self, request: CallRequest, since: datetime) -> str | None:
        """The newest call to ``request.to`` from ``request.from_`` created at or after
        ``since`` (Twilio lists newest first and dates to the second)."""
        floor = since.astimezone(UTC).replace(microsecond=0)
        params: dict[str, str | int] | None = {
            "To": request.to,
            "From": request.from_,
            "StartTime>": floor.date().isoformat(),  # on the wire: StartTime>=YYYY-MM-DD
            "PageSize": 50,
        }
        url, query = "Calls.json", params
        for _ in range(FIND_CALL_MAX_PAGES):
            page = _json_object(await self._send("GET", url, params=query))
            found, older_seen = _newest_since(page.get("calls"), floor)
            next_url = self._next_page(page)
            if found is not None or older_seen or next_url is None:
                return found
            url, query = next_url, None  # the next page's URI carries the query
        return None

    async def hang_up(self, provider_call_id: str) -> None:
        """End the call. ``Status=canceled`` first: it ends a queued or ringing call and leaves
        an answered one alone (Twilio answers with its ``in-progress`` status), which is then
        ended with ``Status=completed``. One request for an unanswered call, two for an answered
        one, and never a "completed" reported for a call nobody picked up. A call that has
        already ended is not an error."""
        if await self._update_status(provider_call_id, "canceled") == "in-progress":
            await self._update_status(provider_call_id, "completed")

    async def leave_voicemail(self, provider_call_id: str, voicemail: Voicemail) -> None:
        """The live call runs the voicemail's TwiML instead of its own: say or play, hang up."""
        await self._update(provider_call_id, {"Twiml": twiml.voicemail(voicemail)})

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _update_status(self, sid: str, status: str) -> str | None:
        return await self._update(sid, {"Status": status})

    async def _update(self, sid: str, data: dict[str, str]) -> str | None:
        """The call's status after the update; None when it had ended already."""
        try:
            response = await self._send("POST", f"Calls/{sid}.json", data=data)
        except TwilioRejected as exc:
            if exc.code == CALL_NOT_LIVE:
                return None  # it has ended already
            raise
        wire_status = _json_object(response).get("status")
        return wire_status if isinstance(wire_status, str) else None

    def _create_form(self, request: CallRequest) -> dict[str, str | list[str]]:
        form: dict[str, str | list[str]] = {
            "To": request.to,
            "From": request.from_,
            "StatusCallback": request.status_callback_url,
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": list(self._events),
            "Timeout": str(request.ring_timeout),
            "TimeLimit": str(request.time_limit),
        }
        if request.answer_url:
            form["Url"] = request.answer_url
        elif request.machine_detection:
            form["Twiml"] = twiml.hold(twiml.DETECTION_HOLD)  # detection needs the call up
        else:
            form["Twiml"] = self._default_twiml
        if request.machine_detection:
            form |= {
                "MachineDetection": MACHINE_DETECTION[DetectionMode(request.machine_detection)],
                "AsyncAmd": "true",
                "AsyncAmdStatusCallback": request.status_callback_url,
                "AsyncAmdStatusCallbackMethod": "POST",
            }
        return form

    def _next_page(self, page: Mapping[str, Any]) -> str | None:
        """The next page's URL; Twilio gives it as a path from the API root."""
        uri = page.get("next_page_uri")
        return str(self._client.base_url.join(uri)) if isinstance(uri, str) and uri else None

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, url, **kwargs)
        except _NOT_SENT as exc:
            raise ProviderUnavailable(f"twilio unreachable: {exc!r}") from exc
        except httpx.TransportError as exc:
            if method == "GET":
                raise ProviderUnavailable(f"twilio did not answer: {exc!r}") from exc
            raise ProviderOutcomeUnknown(f"twilio did not answer: {exc!r}") from exc
        if not response.is_success:
            raise status_error(response)
        return response


# ---------------------------------------------------------------- inbound: status callbacks


def parse_status_callback(params: Mapping[str, str]) -> ProviderEvent:
    """A Twilio status-callback form as a ``ProviderEvent``; ``InvalidInput`` naming every bad
    field when the form cannot be one. The async AMD callback (``AnsweredBy`` without
    ``CallStatus``) is the answered call's detection report."""
    problems: list[Problem] = []
    sid = params.get("CallSid", "")
    if not sid:
        problems.append(Problem("CallSid", "is missing"))
    detected = _answered_by(params, problems)
    wire_status = params.get("CallStatus", "")
    progress = WIRE_STATUS_TO_PROGRESS.get(wire_status)
    if not wire_status and "AnsweredBy" in params:
        progress = CallProgress.ANSWERED  # the async AMD callback: only an answered call has one
    elif progress is None:
        problems.append(Problem("CallStatus", f"unknown call status {wire_status!r}"))
    sequence = _optional_int(params, "SequenceNumber", problems)
    duration = _optional_int(params, "CallDuration", problems)
    occurred_at = _optional_rfc2822(params, "Timestamp", problems)
    if problems or progress is None:
        raise InvalidInput(problems)
    sip = params.get("SipResponseCode")
    return ProviderEvent(
        provider_call_id=sid,
        progress=progress,
        occurred_at=occurred_at,
        sequence=sequence,
        duration=duration,
        hangup_cause=f"sip:{sip}" if sip else None,
        raw=dict(params),
        answered_by=detected[0] if detected else None,
        greeting_ended=detected[1] if detected else False,
    )


def _answered_by(
    params: Mapping[str, str], problems: list[Problem]
) -> tuple[AnsweredBy, bool] | None:
    text = params.get("AnsweredBy")
    if not text:
        return None
    found = ANSWERED_BY.get(text)
    if found is None:
        problems.append(Problem("AnsweredBy", f"unknown answering-machine result {text!r}"))
    return found


def call_resource_event(payload: Mapping[str, Any]) -> ProviderEvent:
    """A Call resource (REST JSON) as the event "the call is in this state now"."""
    sid = payload.get("sid")
    progress = WIRE_STATUS_TO_PROGRESS.get(str(payload.get("status")))
    if not isinstance(sid, str) or progress is None:
        raise ProviderOutcomeUnknown(f"unreadable twilio call resource: {dict(payload)!r}")
    updated = payload.get("date_updated")
    detected = ANSWERED_BY.get(str(payload.get("answered_by")))
    return ProviderEvent(
        provider_call_id=sid,
        progress=progress,
        occurred_at=rfc2822(updated) if isinstance(updated, str) else None,
        duration=_int_or_none(payload.get("duration")),
        raw={k: str(v) for k, v in payload.items() if isinstance(v, str | int | float)},
        answered_by=detected[0] if detected else None,
        greeting_ended=detected[1] if detected else False,
    )


def call_resource_price(payload: Mapping[str, Any]) -> CallPrice | None:
    """What a Call resource says the call cost: Twilio writes a charge as a negative amount
    (``"-0.01400"``) in ``price_unit``, and leaves ``price`` null until it has priced the call,
    some time after it ended. A call that ended without a word said (busy, no-answer, failed,
    canceled, with no duration) is not charged: Twilio may leave its price null, and it costs
    nothing."""
    unit = payload.get("price_unit")
    if not isinstance(unit, str) or not unit:
        return None
    price = _decimal_or_none(payload.get("price"))
    if price is not None:
        return CallPrice(abs(price), unit.upper())
    talked = _int_or_none(payload.get("duration"))
    unanswered = payload.get("status") in UNCHARGED_STATUSES and not talked
    return CallPrice(Decimal(0), unit.upper()) if unanswered else None


def _decimal_or_none(value: object) -> Decimal | None:
    if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def rfc2822(text: str) -> datetime | None:
    """'Tue, 10 Aug 2010 08:02:17 +0000' as an aware UTC datetime; None when unreadable."""
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _optional_int(params: Mapping[str, str], name: str, problems: list[Problem]) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        problems.append(Problem(name, f"{text!r} is not a whole number"))
        return None


def _optional_rfc2822(
    params: Mapping[str, str], name: str, problems: list[Problem]
) -> datetime | None:
    text = params.get(name)
    if not text:
        return None
    parsed = rfc2822(text)
    if parsed is None:
        problems.append(Problem(name, f"{text!r} is not an RFC 2822 date"))
    return parsed


# ---------------------------------------------------------------- responses


def status_error(response: httpx.Response) -> ProviderError:
    """A Twilio API error answer as the project's error (the Messages API adapter's too)."""
    code, message = _twilio_error(response)
    detail = f"twilio HTTP {response.status_code} (code {code}): {message}"
    if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
        return ProviderThrottled(detail, retry_after=retry_after(response.headers))
    if response.status_code in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
        return ProviderAuthFailed(detail)
    if response.is_server_error:
        return ProviderUnavailable(detail)
    return TwilioRejected(detail, code)


def _twilio_error(response: httpx.Response) -> tuple[int | None, str]:
    """Twilio's error body is ``{"code": 21211, "message": "...", "more_info": ..., ...}``."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200] or response.reason_phrase
    if not isinstance(body, dict):
        return None, response.text[:200]
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(body.get("message", ""))


def retry_after(headers: httpx.Headers) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None when absent."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        when = rfc2822(value)
        if when is None:
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _json_object(response: httpx.Response, *, unsure: bool = False) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        error = ProviderOutcomeUnknown if unsure else ProviderUnavailable
        raise error(f"twilio sent a body that is not JSON: {response.text[:200]!r}") from exc
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"twilio sent unexpected JSON: {body!r}")
    return body


def _newest_since(calls: object, floor: datetime) -> tuple[str | None, bool]:
    """(sid of the newest call created at or after ``floor``, whether an older one was seen)."""
    best: tuple[datetime, str] | None = None
    older_seen = False
    for call in calls if isinstance(calls, list) else []:
        created = rfc2822(str(call.get("date_created", ""))) if isinstance(call, dict) else None
        sid = call.get("sid") if isinstance(call, dict) else None
        if created is None or not isinstance(sid, str):
            continue
        if created < floor:
            older_seen = True
        elif best is None or created > best[0]:
            best = (created, sid)
    return (best[1] if best else None), older_seen

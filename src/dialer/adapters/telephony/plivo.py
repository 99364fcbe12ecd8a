"""Plivo telephony: its REST API v1 (``/v1/Account/{auth_id}/Call/``) and its callbacks.

A call is created with two callback URLs pointed at our status webhook: ``answer_url``
(answered: Plivo fetches the call's XML there, so the webhook answers with Plivo XML) and
``hangup_url`` (the ending, with ``HangupCause`` and ``Duration``); with ``ringing_callbacks``,
a third, ``ring_url`` (the phone rings), which the attempt's states do not need. A campaign's
own ``answer_url`` replaces ours: the call then runs the campaign's application, and the
answer is learned from the ending's ``AnswerTime``/duration.

Answering-machine detection: ``machine_detection=true`` with ``machine_detection_url`` pointed
at the same webhook; Plivo then posts ``Event=MachineDetection`` with ``Machine=true|false``
(and ``CallStatus=in-progress``). Plivo detects a machine but not the end of its greeting, so
``detect_end`` is ``detect`` here, and it leaves no voicemail (``leaves_voicemail`` is False: a
campaign's voicemail is refused). Without a campaign ``answer_url``, our answer XML holds the
call ``DETECTION_HOLD`` seconds (``hold`` in the answer URL) so that detection can finish.

The call id is Plivo's ``request_uuid``, which Plivo uses as the call's ``CallUUID`` in every
callback and in the call's record. Errors are translated as in rest.py. Numbers go to Plivo
as digits with the country code and no ``+``, as its API documents them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from dialer.adapters.telephony import rest
from dialer.domain.machines import AnsweredBy, Voicemail
from dialer.domain.statuses import CallProgress
from dialer.errors import InvalidInput, Problem, ProviderOutcomeUnknown, ProviderRejected
from dialer.ports import CallPrice, CallRequest, ProviderEvent

PLIVO_API_BASE = "https://api.plivo.com"
NAME = "plivo"
PLIVO_TIME = "%Y-%m-%d %H:%M:%S"

# CallStatus in Plivo's callbacks, and call_status of a live call.
WIRE_STATUS_TO_PROGRESS: Mapping[str, CallProgress] = {
    "queued": CallProgress.QUEUED,
    "ringing": CallProgress.RINGING,
    "early-media": CallProgress.RINGING,
    "in-progress": CallProgress.ANSWERED,
    "completed": CallProgress.COMPLETED,
    "busy": CallProgress.BUSY,
    "no-answer": CallProgress.NO_ANSWER,
    "timeout": CallProgress.NO_ANSWER,  # rang until ring_timeout
    "failed": CallProgress.FAILED,
    "cancel": CallProgress.CANCELED,
}
# call_state of an ended call's record (CDR).
CALL_STATE_TO_PROGRESS: Mapping[str, CallProgress] = {
    "ANSWER": CallProgress.COMPLETED,
    "BUSY": CallProgress.BUSY,
    "NO_ANSWER": CallProgress.NO_ANSWER,
    "NO ANSWER": CallProgress.NO_ANSWER,
    "TIMEOUT": CallProgress.NO_ANSWER,
    "CANCEL": CallProgress.CANCELED,
    "FAILED": CallProgress.FAILED,
}
# Plivo XML for an answered call when the campaign has no answer_url: wait a second, hang up.
DEFAULT_ANSWER_XML = '<?xml version="1.0" encoding="UTF-8"?><Response><Wait length="1"/></Response>'
# With machine detection and no answer_url, the call is held this long (seconds) so that
# detection (5 s by default, ``machine_detection_time``) can finish.
DETECTION_HOLD = 10
MAX_HOLD = 60
MACHINE_DETECTION_EVENT = "MachineDetection"


def answer_xml(hold: str | None) -> str:
    """The answer XML for an answer request whose URL asks for ``hold`` seconds (our own
    answer URL with machine detection), else the default."""
    if hold is None or not hold.isdigit() or not 1 <= int(hold) <= MAX_HOLD:
        return DEFAULT_ANSWER_XML
    wait = f'<Wait length="{int(hold)}"/>'
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{wait}</Response>'


def plivo_number(e164: str) -> str:
    return e164.removeprefix("+")


def e164_of(number: str) -> str:
    return number if number.startswith("+") or not number else f"+{number}"


def _error_text(response: httpx.Response) -> str:
    """Plivo's error body is ``{"api_id": "...", "error": "..."}``."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return response.text[:200]


class PlivoTelephony:
    """The ``Telephony`` port over Plivo's REST API v1, with one keep-alive pool.
    ``ringing_callbacks`` asks for the ring callback (``ring_url``) too."""

    name = NAME
    leaves_voicemail = False
    reports_prices = False  # see call_price

    def __init__(
        self,
        api_base: str | None,
        auth_id: str,
        auth_token: str,
        *,
        timeout: float = 10.0,
        max_connections: int = 200,
        ringing_callbacks: bool = False,
    ) -> None:
        root = (api_base or PLIVO_API_BASE).rstrip("/")
        self._ringing_callbacks = ringing_callbacks
        self._client = rest.pooled_client(
            f"{root}/v1/Account/{auth_id}/",
            timeout=timeout,
            max_connections=max_connections,
            auth=(auth_id, auth_token),
            headers={"Accept": "application/json"},
        )

    async def create_call(self, request: CallRequest) -> str:
        response = await self._send("POST", "Call/", json=self._create_body(request))
        payload = rest.json_object(NAME, response, unsure=True)
        request_uuid = payload.get("request_uuid")
        if isinstance(request_uuid, list):  # several destinations: one uuid each
            request_uuid = request_uuid[0] if request_uuid else None
        if not isinstance(request_uuid, str) or not request_uuid:
            raise ProviderOutcomeUnknown("plivo answered a create without a request_uuid")
        return request_uuid

    async def fetch_call(self, provider_call_id: str) -> ProviderEvent:
        """Live first (ringing, in-progress), then the ended call's record, then queued."""
        path = f"Call/{provider_call_id}/"
        for params in ({"status": "live"}, None, {"status": "queued"}):
            try:
                response = await self._send("GET", path, params=params)
            except rest.NotFoundAtProvider:
                continue
            return call_event(provider_call_id, rest.json_object(NAME, response))
        raise rest.NotFoundAtProvider(f"plivo knows no call {provider_call_id}")

    async def find_call(self, request: CallRequest, since: datetime) -> str | None:
        """A live call to ``request.to`` from ``request.from_``, else the newest ended one
        started at or after ``since``."""
        numbers = {
            "from_number": plivo_number(request.from_),
            "to_number": plivo_number(request.to),
        }
        live = rest.json_object(
            NAME, await self._send("GET", "Call/", params={"status": "live", **numbers})
        )
        calls = live.get("calls")
        if isinstance(calls, list) and calls:
            return str(calls[0])
        floor = since.astimezone(UTC).replace(microsecond=0)
        query = {**numbers, "initiation_time__gte": floor.strftime(PLIVO_TIME), "limit": 20}
        ended = rest.json_object(NAME, await self._send("GET", "Call/", params=query))
        return _newest_since(ended.get("objects"), floor)

    async def hang_up(self, provider_call_id: str) -> None:
        """End a live call; a call still queued is cancelled as a request. A call that has
        already ended is not an error."""
        for path in (f"Call/{provider_call_id}/", f"Request/{provider_call_id}/"):
            try:
                await self._send("DELETE", path)
            except rest.NotFoundAtProvider:
                continue
            return

    async def call_price(self, provider_call_id: str) -> CallPrice | None:
        """None, always, and nothing is asked. Plivo's record of an ended call has a
        ``total_amount``, but not the currency it is in (the account's), and Dialer does not
        read it yet: Plivo calls keep Dialer's own cost only."""
        del provider_call_id
        return None

    async def leave_voicemail(self, provider_call_id: str, voicemail: Voicemail) -> None:
        raise ProviderRejected("plivo: Dialer leaves no voicemail through Plivo (no beep heard)")

    async def aclose(self) -> None:
        await self._client.aclose()

    def _create_body(self, request: CallRequest) -> dict[str, Any]:
        callback = request.status_callback_url
        ours = callback if not request.machine_detection else f"{callback}&hold={DETECTION_HOLD}"
        body: dict[str, Any] = {
            "from": plivo_number(request.from_),
            "to": plivo_number(request.to),
            "answer_url": request.answer_url or ours,
            "answer_method": "POST",
            "hangup_url": callback,
            "hangup_method": "POST",
            "ring_timeout": request.ring_timeout,
            "time_limit": request.time_limit,
        }
        if self._ringing_callbacks:  # without a ring_url, Plivo posts no ring callback
            body.update(ring_url=callback, ring_method="POST")
        if request.machine_detection:
            body.update(
                machine_detection="true",
                machine_detection_url=callback,
                machine_detection_method="POST",
            )
        return body

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await rest.send(self._client, NAME, _error_text, method, url, **kwargs)


# ---------------------------------------------------------------- inbound: callbacks


def parse_callback(params: Mapping[str, str]) -> ProviderEvent:
    """A ring, answer, machine detection or hangup callback form as a ``ProviderEvent``;
    ``InvalidInput`` naming every bad field (a ring callback comes only when ``ring_url`` was
    given). Plivo numbers no callbacks, so ``sequence`` is None and the event's dedupe key is
    its status (and who answered, for the detection, which is ``in-progress`` too): each of
    ringing, answered, detection and the ending happens once per call, and a repeated delivery
    of one is recognised by it."""
    problems: list[Problem] = []
    call_id = params.get("CallUUID") or params.get("RequestUUID") or ""
    if not call_id:
        problems.append(Problem("CallUUID", "is missing"))
    wire_status = params.get("CallStatus", "")
    progress = WIRE_STATUS_TO_PROGRESS.get(wire_status)
    if progress is None:
        problems.append(Problem("CallStatus", f"unknown call status {wire_status!r}"))
    duration = _optional_int(params, "Duration", problems)
    if problems or progress is None:
        raise InvalidInput(problems)
    cause = params.get("HangupCause") or None
    return ProviderEvent(
        provider_call_id=call_id,
        progress=progress,
        occurred_at=_plivo_time(params.get("EndTime") or params.get("AnswerTime") or ""),
        duration=duration,
        hangup_cause=cause,
        raw=dict(params),
        answered_by=_detected(params),
    )


def _detected(params: Mapping[str, str]) -> AnsweredBy | None:
    """Who answered, on the machine detection callback (the same URL as the others)."""
    if params.get("Event") != MACHINE_DETECTION_EVENT:
        return None
    return AnsweredBy.MACHINE if params.get("Machine", "").lower() == "true" else AnsweredBy.HUMAN


def call_event(call_id: str, resource: Mapping[str, Any]) -> ProviderEvent:
    """A live call's details, a queued request or an ended call's record, as an event."""
    if "call_state" in resource or "end_time" in resource:
        state = str(resource.get("call_state", "")).upper()
        progress = CALL_STATE_TO_PROGRESS.get(state, CallProgress.FAILED)
        return ProviderEvent(
            provider_call_id=call_id,
            progress=progress,
            occurred_at=_plivo_time(str(resource.get("end_time") or "")),
            duration=rest.int_or_none(resource.get("call_duration")),
            hangup_cause=_str_or_none(resource.get("hangup_cause_name")),
            raw=_flat(resource),
        )
    live = WIRE_STATUS_TO_PROGRESS.get(str(resource.get("call_status", "")))
    if live is None:
        raise ProviderOutcomeUnknown(f"unreadable plivo call: {dict(resource)!r}")
    return ProviderEvent(provider_call_id=call_id, progress=live, raw=_flat(resource))


def _newest_since(objects: object, floor: datetime) -> str | None:
    best: tuple[datetime, str] | None = None
    for record in objects if isinstance(objects, list) else []:
        if not isinstance(record, dict):
            continue
        started = _plivo_time(str(record.get("initiation_time") or ""))
        call_id = record.get("call_uuid")
        if started is None or not isinstance(call_id, str) or started < floor:
            continue
        if best is None or started > best[0]:
            best = (started, call_id)
    return best[1] if best else None


def _plivo_time(text: str) -> datetime | None:
    """'2026-03-03 15:00:07' (UTC, optionally with an offset) as an aware datetime."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _optional_int(params: Mapping[str, str], name: str, problems: list[Problem]) -> int | None:
    text = params.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        problems.append(Problem(name, f"{text!r} is not a whole number"))
        return None


def _str_or_none(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _flat(resource: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in resource.items() if isinstance(v, str | int | float)}

"""Telnyx telephony: Call Control v2 (``POST /v2/calls``) and its JSON webhooks.

A call is created on the account's Call Control connection with our status webhook as its
``webhook_url``; Telnyx then posts ``call.initiated``, ``call.answered`` and ``call.hangup``
(with ``hangup_cause``) there, as ``{"data": {"event_type", "id", "occurred_at", "payload"}}``.
Telnyx has no way to leave ``call.initiated`` out: it is acknowledged and not stored (the
worker marks the attempt INITIATED when the create is accepted), so only the answer and the
ending cost a transaction.
The call id is the ``call_control_id``. ``client_state`` carries the attempt id, so a live call
can be found again on the connection's list of active calls.

**Idempotency.** Every create carries ``Idempotency-Key``, derived from the status webhook URL
(which names this deployment and the attempt). When the create's answer is lost (a timeout
after sending), the adapter sends the same create again with the same key, once: Telnyx runs a
keyed request at most once, so the repeat either returns the call the first one made or makes
the only call. That is a retry *inside one send*: our durable sent marker (committed before
the first request) still decides whether an attempt is sent at all, and a job delivered twice
never reaches this adapter a second time. The key only makes the one send's own retry safe.

**Answering-machine detection.** ``answering_machine_detection`` is ``detect`` (``detect``
mode) or ``detect_beep`` (``detect_end``); Telnyx then posts ``call.machine.detection.ended``
(``result``: human, machine, not_sure) and, with ``detect_beep``, ``call.machine.greeting.ended``
once the beep is heard (the premium variants are read too). Each is the answered call's
detection report. Dialer leaves no voicemail through Telnyx (``leaves_voicemail`` is False: a
campaign's voicemail is refused).

``answer_url`` does not apply: a Call Control call does what the connection's application
tells it; Dialer sets the ring timeout and the time limit (``time_limit_secs``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from dialer.adapters.telephony import rest
from dialer.domain.machines import AnsweredBy, DetectionMode, Voicemail
from dialer.domain.statuses import CallProgress
from dialer.errors import (
    InvalidInput,
    Problem,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRejected,
)
from dialer.ports import CallPrice, CallRequest, ProviderEvent

TELNYX_API_BASE = "https://api.telnyx.com"
NAME = "telnyx"
CALL_ENDED = "90018"  # Telnyx's code for "call has already ended"
ACTIVE_CALLS_PAGE = 250

HANGUP_CAUSE_TO_PROGRESS: Mapping[str, CallProgress] = {
    "normal_clearing": CallProgress.COMPLETED,
    "time_limit": CallProgress.COMPLETED,  # answered, then ended at time_limit_secs
    "user_busy": CallProgress.BUSY,
    "call_rejected": CallProgress.BUSY,  # declined by the callee: retried like busy
    "timeout": CallProgress.NO_ANSWER,  # rang for timeout_secs
    "originator_cancel": CallProgress.CANCELED,  # we hung up before it was answered
    "not_found": CallProgress.FAILED,
    "unspecified": CallProgress.FAILED,
}
# call.initiated is absent: it tells nothing the accepted create did not (see above).
EVENT_TO_PROGRESS: Mapping[str, CallProgress] = {
    "call.answered": CallProgress.ANSWERED,
}
MACHINE_DETECTION = {DetectionMode.DETECT: "detect", DetectionMode.DETECT_END: "detect_beep"}
# The detection webhooks' ``result``: who answered, and whether the greeting has ended.
DETECTION_RESULTS: Mapping[str, Mapping[str, AnsweredBy]] = {
    "call.machine.detection.ended": {
        "human": AnsweredBy.HUMAN,
        "machine": AnsweredBy.MACHINE,
        "not_sure": AnsweredBy.UNKNOWN,
    },
    "call.machine.premium.detection.ended": {
        "human_residence": AnsweredBy.HUMAN,
        "human_business": AnsweredBy.HUMAN,
        "machine": AnsweredBy.MACHINE,
        "fax_detected": AnsweredBy.FAX,
        "silence": AnsweredBy.UNKNOWN,
        "not_sure": AnsweredBy.UNKNOWN,
    },
}
GREETING_ENDED = frozenset({"call.machine.greeting.ended", "call.machine.premium.greeting.ended"})


def client_state(attempt_id: int) -> str:
    return base64.b64encode(f"dialer-attempt:{attempt_id}".encode()).decode("ascii")


def idempotency_key(request: CallRequest) -> str:
    digest = hashlib.sha256(request.status_callback_url.encode()).hexdigest()[:32]
    return f"dialer-{request.attempt_id}-{digest}"


def _error_text(response: httpx.Response) -> str:
    """``{"errors": [{"code": "10015", "title": "...", "detail": "..."}]}``."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return response.text[:200]
    first = errors[0]
    return f"{first.get('code', '')} {first.get('title', '')}: {first.get('detail', '')}".strip()


class TelnyxTelephony:
    """The ``Telephony`` port over Telnyx Call Control v2, with one keep-alive pool."""

    name = NAME
    leaves_voicemail = False
    reports_prices = False  # see call_price

    def __init__(
        self,
        api_base: str | None,
        api_key: str,
        connection_id: str,
        *,
        timeout: float = 10.0,
        max_connections: int = 200,
    ) -> None:
        root = (api_base or TELNYX_API_BASE).rstrip("/")
        self._connection_id = connection_id
        self._client = rest.pooled_client(
            f"{root}/v2/",
            timeout=timeout,
            max_connections=max_connections,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
        )

    async def create_call(self, request: CallRequest) -> str:
        body = self._create_body(request)
        headers = {"Idempotency-Key": idempotency_key(request)}
        try:
            response = await self._send("POST", "calls", json=body, headers=headers)
        except ProviderOutcomeUnknown as lost:
            response = await self._repeat(body, headers, lost)
        data = _data(rest.json_object(NAME, response, unsure=True))
        call_id = data.get("call_control_id")
        if not isinstance(call_id, str) or not call_id:
            raise ProviderOutcomeUnknown("telnyx answered a create without a call_control_id")
        return call_id

    async def fetch_call(self, provider_call_id: str) -> ProviderEvent:
        """Telnyx keeps no ending for a call (its ``call.hangup`` webhook is the one word on
        it): a live call is reported as initiated, an ended one as unknown."""
        response = await self._send("GET", f"calls/{provider_call_id}")
        data = _data(rest.json_object(NAME, response))
        if data.get("is_alive") is not True:
            raise ProviderOutcomeUnknown(f"telnyx call {provider_call_id} has ended; no outcome")
        return ProviderEvent(
            provider_call_id=provider_call_id,
            progress=CallProgress.INITIATED,
            raw={k: str(v) for k, v in data.items() if isinstance(v, str | int | float)},
        )

    async def find_call(self, request: CallRequest, since: datetime) -> str | None:
        """The live call of this attempt on the connection (matched by ``client_state``).
        ``since`` is not needed: the attempt id names the call."""
        del since
        path = f"connections/{self._connection_id}/active_calls"
        page = rest.json_object(
            NAME, await self._send("GET", path, params={"page[size]": ACTIVE_CALLS_PAGE})
        )
        wanted = client_state(request.attempt_id)
        calls = page.get("data")
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, dict) and call.get("client_state") == wanted:
                return str(call.get("call_control_id"))
        return None

    async def hang_up(self, provider_call_id: str) -> None:
        """A call that has already ended is not an error."""
        try:
            await self._send("POST", f"calls/{provider_call_id}/actions/hangup", json={})
        except rest.NotFoundAtProvider:
            return
        except ProviderRejected as exc:
            if CALL_ENDED not in str(exc):
                raise

    async def call_price(self, provider_call_id: str) -> CallPrice | None:
        """None, always, and nothing is asked: a Telnyx call resource carries no price.
        Telnyx reports a call's cost in its ``call.cost`` webhook and in its detail records
        (the reporting API), neither of which Dialer reads yet."""
        del provider_call_id
        return None

    async def leave_voicemail(self, provider_call_id: str, voicemail: Voicemail) -> None:
        raise ProviderRejected("telnyx: Dialer leaves no voicemail through Telnyx")

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _repeat(
        self, body: dict[str, Any], headers: dict[str, str], lost: ProviderOutcomeUnknown
    ) -> httpx.Response:
        """The same keyed create once more; if it cannot be sent, the first one's outcome
        stays unknown (never "not sent": the first request may have made the call)."""
        try:
            return await self._send("POST", "calls", json=body, headers=headers)
        except ProviderOutcomeUnknown:
            raise
        except ProviderError as exc:
            raise ProviderOutcomeUnknown(f"{lost}; the keyed repeat failed: {exc}") from exc

    def _create_body(self, request: CallRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "connection_id": self._connection_id,
            "to": request.to,
            "from": request.from_,
            "webhook_url": request.status_callback_url,
            "webhook_url_method": "POST",
            "timeout_secs": request.ring_timeout,
            "time_limit_secs": request.time_limit,
            "client_state": client_state(request.attempt_id),
        }
        if request.machine_detection:
            mode = DetectionMode(request.machine_detection)
            body["answering_machine_detection"] = MACHINE_DETECTION[mode]
        return body

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await rest.send(self._client, NAME, _error_text, method, url, **kwargs)


def _data(body: Mapping[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------- inbound: webhooks


def parse_webhook(body: bytes) -> ProviderEvent | None:
    """A Call Control webhook as a ``ProviderEvent``; None for an event that changes no call
    status (``call.initiated``, ``call.bridged``...): acknowledged, not stored. A detection
    webhook (``call.machine.*``) is the answered call's detection report. The dedupe key is
    the status (and who answered): Telnyx sends each of answered, detection, greeting ended and
    hangup once per call (the event's own ``id`` is kept in ``raw``), and a redelivery has the
    same key."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(Problem("body", f"not JSON: {exc}")) from exc
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise InvalidInput(Problem("data", "is missing"))
    event_type = str(data.get("event_type", ""))
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise InvalidInput(Problem("data.payload", "is missing"))
    call_id = payload.get("call_control_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidInput(Problem("data.payload.call_control_id", "is missing"))
    detected = _detected(event_type, payload)
    progress = CallProgress.ANSWERED if detected else _progress(event_type, payload)
    if progress is None:
        return None
    cause = payload.get("hangup_cause")
    return ProviderEvent(
        provider_call_id=call_id,
        progress=progress,
        occurred_at=_iso(data.get("occurred_at")),
        hangup_cause=str(cause) if cause else None,
        raw=_raw(data, payload),
        answered_by=detected[0] if detected else None,
        greeting_ended=detected[1] if detected else False,
    )


def _detected(event_type: str, payload: Mapping[str, Any]) -> tuple[AnsweredBy, bool] | None:
    """(who answered, whether the greeting has ended) of a detection webhook; None for others.
    A greeting that ended was a machine's, with a beep heard or not."""
    if event_type in GREETING_ENDED:
        return AnsweredBy.MACHINE, True
    results = DETECTION_RESULTS.get(event_type)
    if results is None:
        return None
    return results.get(str(payload.get("result")), AnsweredBy.UNKNOWN), False


def _progress(event_type: str, payload: Mapping[str, Any]) -> CallProgress | None:
    if event_type == "call.hangup":
        cause = str(payload.get("hangup_cause", "unspecified"))
        return HANGUP_CAUSE_TO_PROGRESS.get(cause, CallProgress.FAILED)
    return EVENT_TO_PROGRESS.get(event_type)


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _raw(data: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, str]:
    raw = {k: str(v) for k, v in payload.items() if isinstance(v, str | int | float)}
    raw.update(event_id=str(data.get("id", "")), event_type=str(data.get("event_type", "")))
    return raw

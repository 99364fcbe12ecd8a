"""SMS over Twilio's (or a Twilio-compatible) Messages API, and the forms Twilio posts back.

Errors are translated as for calls (``adapters/telephony/twilio.py``):

==========================================  =========================================
what happened                               raised
==========================================  =========================================
HTTP 429                                    ProviderThrottled (Retry-After honoured)
HTTP 401/403 (bad credentials)              ProviderAuthFailed
HTTP 5xx                                    ProviderUnavailable
other HTTP 4xx                              TwilioRejected, a ProviderRejected carrying
                                            Twilio's code (21610: the recipient replied
                                            STOP; 21211: invalid To; 21408: no permission
                                            for the region...)
connect error / connect or pool timeout     ProviderUnavailable: nothing was sent
read/write timeout, dropped connection      ProviderOutcomeUnknown: the message may have
                                            been queued; its status callback settles it
2xx without a message SID                   ProviderOutcomeUnknown
==========================================  =========================================

Status and inbound callbacks are signed like call callbacks; :func:`verify` checks them with
the same code (``twilio_signature``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from dialer.adapters.telephony import rest
from dialer.adapters.telephony.twilio import (
    API_VERSION,
    TWILIO_API_BASE,
    status_error,
)
from dialer.adapters.telephony.twilio_signature import TwilioWebhookVerifier
from dialer.errors import (
    InvalidInput,
    Problem,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from dialer.ports.messaging import (
    InboundMessage,
    MessageAccepted,
    MessageEvent,
    MessageProgress,
    SmsRequest,
)

PROVIDER = "twilio"

# Twilio's message statuses. "accepted" (a Messaging Service took it) and "sending" are still
# on their way to the carrier; "read" (WhatsApp, RCS) implies delivered.
WIRE_STATUS_TO_PROGRESS: Mapping[str, MessageProgress] = {
    "accepted": MessageProgress.QUEUED,
    "queued": MessageProgress.QUEUED,
    "sending": MessageProgress.QUEUED,
    "sent": MessageProgress.SENT,
    "delivered": MessageProgress.DELIVERED,
    "read": MessageProgress.DELIVERED,
    "undelivered": MessageProgress.UNDELIVERED,
    "failed": MessageProgress.FAILED,
}


class TwilioSms:
    """The ``SmsSender`` port over Twilio's 2010-04-01 Messages API, with one keep-alive pool.

    ``api_base`` is None (or ``TWILIO_API_BASE``) for the real Twilio, or another
    Twilio-compatible API's base URL, such as a simulator's.
    """

    name = "twilio"

    def __init__(
        self,
        api_base: str | None,
        account_sid: str,
        auth_token: str,
        *,
        timeout: float = 10.0,
        max_connections: int = 50,
    ) -> None:
        root = (api_base or TWILIO_API_BASE).rstrip("/")
        self._client = rest.pooled_client(
            f"{root}/{API_VERSION}/Accounts/{account_sid}/",
            timeout=timeout,
            max_connections=max_connections,
            auth=(account_sid, auth_token),
            headers={"Accept": "application/json"},
        )

    async def send_sms(self, request: SmsRequest) -> MessageAccepted:
        response = await self._post("Messages.json", _create_form(request))
        return accepted_from_resource(rest.json_object(PROVIDER, response, unsure=True))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, url: str, form: Mapping[str, str]) -> httpx.Response:
        try:
            response = await self._client.post(url, data=dict(form))
        except rest.NOT_SENT as exc:
            raise ProviderUnavailable(f"twilio unreachable: {exc!r}") from exc
        except httpx.TransportError as exc:  # the request may have been acted on
            raise ProviderOutcomeUnknown(f"twilio did not answer: {exc!r}") from exc
        if not response.is_success:
            raise status_error(response)
        return response


def _create_form(request: SmsRequest) -> dict[str, str]:
    return {
        "To": request.to,
        "From": request.from_,
        "Body": request.body,
        "StatusCallback": request.status_callback_url,
    }


def accepted_from_resource(payload: Mapping[str, Any]) -> MessageAccepted:
    """A Message resource Twilio answered a create with. Without a SID we cannot follow the
    message, yet it may exist: that is an unknown outcome, not a refusal. A status we do not
    know still means Twilio took it, hence queued."""
    sid = payload.get("sid")
    if not isinstance(sid, str) or not sid:
        raise ProviderOutcomeUnknown("twilio answered a message create without a message sid")
    progress = WIRE_STATUS_TO_PROGRESS.get(str(payload.get("status")), MessageProgress.QUEUED)
    return MessageAccepted(
        provider_message_id=sid,
        progress=progress,
        segments=rest.int_or_none(payload.get("num_segments")),
    )


# ---------------------------------------------------------------- inbound: what Twilio posts


def message_event_from_form(form: Mapping[str, str]) -> MessageEvent:
    """A message status callback as a ``MessageEvent``; ``InvalidInput`` naming every bad field
    when the form cannot be one."""
    problems = _missing(form, "MessageSid")
    wire_status = form.get("MessageStatus", "")
    progress = WIRE_STATUS_TO_PROGRESS.get(wire_status)
    if progress is None:
        problems.append(Problem("MessageStatus", f"unknown message status {wire_status!r}"))
    if problems or progress is None:
        raise InvalidInput(problems)
    return MessageEvent(
        provider_message_id=form["MessageSid"],
        progress=progress,
        error_code=form.get("ErrorCode") or None,
        raw=dict(form),
    )


def inbound_from_form(form: Mapping[str, str]) -> InboundMessage:
    """A message a contact sent to one of our numbers. An empty body is a message too (a
    picture alone), so only the SID and both numbers are required."""
    problems = [p for name in ("MessageSid", "From", "To") for p in _missing(form, name)]
    if problems:
        raise InvalidInput(problems)
    return InboundMessage(
        provider_message_id=form["MessageSid"],
        from_=form["From"],
        to=form["To"],
        body=form.get("Body", ""),
    )


def verify(url: str, form: Mapping[str, str], signature: str, auth_token: str) -> bool:
    """True when ``signature`` (the ``X-Twilio-Signature`` header) is Twilio's signature of a
    POST of ``form`` to ``url``, the public URL it requested. The same scheme as calls."""
    return TwilioWebhookVerifier(auth_token).verify(url, form, signature)


def _missing(form: Mapping[str, str], name: str) -> list[Problem]:
    return [] if form.get(name) else [Problem(name, "is missing")]

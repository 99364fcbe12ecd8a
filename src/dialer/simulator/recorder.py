"""A status-callback sink: receives callbacks on any path, checks each signature and keeps them
in arrival order. For smoke tests and demos of the simulator without a dialer.

Twilio's callbacks are checked by default; give another provider's ``RequestVerifier`` for
Plivo's (form, V3 signature) or Telnyx's (JSON, Ed25519) callbacks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dialer.adapters.telephony.inbound import Inbound, RequestVerifier
from dialer.adapters.telephony.twilio_signature import SIGNATURE_HEADER, TwilioWebhookVerifier


@dataclass(frozen=True)
class ReceivedCallback:
    url: str  # as requested, query string included
    form: dict[str, str]  # empty for a JSON callback
    signature: str | None
    signature_valid: bool
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def document(self) -> dict[str, Any]:
        """A JSON callback's body (Telnyx), else {}."""
        if self.form or not self.body:
            return {}
        parsed = json.loads(self.body)
        return parsed if isinstance(parsed, dict) else {}

    @property
    def status(self) -> str:
        """CallStatus of a form callback, event_type of a JSON one."""
        if self.form:
            return self.form.get("CallStatus", "")
        return str(self.document.get("data", {}).get("event_type", ""))

    @property
    def call_id(self) -> str:
        if self.form:
            return self.form.get("CallSid") or self.form.get("CallUUID", "")
        return str(self.document.get("data", {}).get("payload", {}).get("call_control_id", ""))


class CallbackRecorder:
    def __init__(
        self,
        auth_token: str,
        *,
        status_code: int = 204,
        verifier: RequestVerifier | None = None,
    ) -> None:
        self.received: list[ReceivedCallback] = []
        self.status_code = status_code  # what it answers; set >= 400 to fail deliveries
        self._verifier = verifier or TwilioWebhookVerifier(auth_token)
        self._arrived = asyncio.Condition()
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    def for_call(self, sid: str) -> list[ReceivedCallback]:
        return [callback for callback in self.received if callback.call_id == sid]

    def statuses(self, sid: str) -> list[str]:
        return [callback.status for callback in self.for_call(sid)]

    async def wait_until(self, done: Callable[[list[ReceivedCallback]], bool]) -> None:
        """Until ``done(received)`` holds (bound it with ``asyncio.timeout``)."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: done(self.received))

    async def wait_for_status(self, sid: str, status: str) -> None:
        await self.wait_until(lambda _: status in self.statuses(sid))

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        headers = {name.lower(): value for name, value in request.headers.items()}
        is_form = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        form = dict(parse_qsl(body.decode(), keep_blank_values=True)) if is_form else {}
        url = str(request.url)
        signature = request.headers.get(SIGNATURE_HEADER)
        valid = self._verifier.verify_request(Inbound(url, headers, body))
        received = ReceivedCallback(url, form, signature, valid, body, headers)
        async with self._arrived:
            self.received.append(received)
            self._arrived.notify_all()
        return Response(status_code=self.status_code)

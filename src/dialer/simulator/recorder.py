"""A status-callback sink: receives Twilio-style callbacks on any path, checks each signature
and keeps them in arrival order. For smoke tests and demos of the simulator without a dialer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dialer.adapters.telephony.twilio_signature import SIGNATURE_HEADER, TwilioWebhookVerifier


@dataclass(frozen=True)
class ReceivedCallback:
    url: str  # as requested, query string included
    form: dict[str, str]
    signature: str | None
    signature_valid: bool

    @property
    def status(self) -> str:
        return self.form.get("CallStatus", "")


class CallbackRecorder:
    def __init__(self, auth_token: str, *, status_code: int = 204) -> None:
        self.received: list[ReceivedCallback] = []
        self.status_code = status_code  # what it answers; set >= 400 to fail deliveries
        self._verifier = TwilioWebhookVerifier(auth_token)
        self._arrived = asyncio.Condition()
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    def for_call(self, sid: str) -> list[ReceivedCallback]:
        return [callback for callback in self.received if callback.form.get("CallSid") == sid]

    def statuses(self, sid: str) -> list[str]:
        return [callback.status for callback in self.for_call(sid)]

    async def wait_until(self, done: Callable[[list[ReceivedCallback]], bool]) -> None:
        """Until ``done(received)`` holds (bound it with ``asyncio.timeout``)."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: done(self.received))

    async def wait_for_status(self, sid: str, status: str) -> None:
        await self.wait_until(lambda _: status in self.statuses(sid))

    async def _receive(self, request: Request) -> Response:
        body = (await request.body()).decode()
        form = dict(parse_qsl(body, keep_blank_values=True))
        url = str(request.url)
        signature = request.headers.get(SIGNATURE_HEADER)
        valid = signature is not None and self._verifier.verify(url, form, signature)
        async with self._arrived:
            self.received.append(ReceivedCallback(url, form, signature, valid))
            self._arrived.notify_all()
        return Response(status_code=self.status_code)

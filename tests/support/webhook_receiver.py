"""A tenant's webhook receiver for tests: a real aiohttp server on loopback that verifies
every request's signature with the ``standardwebhooks`` package (as a tenant would), keeps
what it received, and answers as told: a status code, a pause longer than the sender's
timeout, or a dropped connection."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from dialer.bootstrap import Runtime
from dialer.services.context import Services
from dialer.services.webhook_endpoints import EndpointChange, UrlRules, add_endpoint
from tests.support.polling import until

OK = 204
# The engine's settings for a receiver on loopback over plain http, its deliveries prompt.
RECEIVING: dict[str, Any] = {
    "webhook_allow_http": True,
    "webhook_allow_private": True,
    "webhook_tick_seconds": 0.05,
}
SLOW = "slow"  # answer after the test's sender timeout
DROP = "drop"  # close the connection without an answer
# A status code, SLOW, DROP, or a JSON object answered with 200 (a pre-dial hook's verdict).
Answer = int | str | dict[str, Any]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    payload: Any
    verified_by: list[str]  # which of the receiver's secrets verified it


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)  # the secrets it verifies with
    plan: deque[Answer] = field(default_factory=deque)  # answers to give, then ``otherwise``
    otherwise: Callable[[Any], Answer] = lambda payload: OK  # the answer once the plan is done
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # signatures that did not verify
    slow_seconds: float = 2.0
    headers: dict[str, str] = field(default_factory=dict)  # sent with every status answer
    url: str = ""
    in_flight: int = 0
    peak: int = 0  # the most requests it held at once

    def answer(self, *answers: Answer) -> None:
        self.plan.extend(answers)

    def delivered(self) -> list[Any]:
        """The payloads answered with success, in order of arrival."""
        return [r.payload for r in self.received if r.payload.get("_answer") == OK]

    def received_payloads(self) -> list[Any]:
        """Every verified payload, in order of arrival, whatever the answer."""
        return [r.payload for r in self.received]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = dict(request.headers)
        verified = []
        for secret in self.secrets:
            try:
                payload = Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            verified.append(secret)
        if not verified:
            self.refused.append(headers.get("webhook-signature", ""))
            return web.Response(status=401)
        action = self.plan.popleft() if self.plan else self.otherwise(payload)
        payload["_answer"] = action
        self.received.append(Received(headers, body, payload, verified))
        if isinstance(action, dict):
            return web.json_response(action)
        if action == SLOW:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                await asyncio.sleep(self.slow_seconds)
            finally:
                self.in_flight -= 1
            return web.Response(status=OK)
        if action == DROP:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=OK)
        return web.Response(status=int(action), headers=self.headers)


@asynccontextmanager
async def running_receiver(path: str = "/hooks/dialer") -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post(path, receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}{path}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def subscribe_receiver(
    services: Services, tenant_id: int, receiver: Receiver, events: list[str]
) -> int:
    """The receiver subscribed to ``events`` for the tenant, verifying with the endpoint's
    secret; the endpoint's id."""
    change = EndpointChange(receiver.url, events)
    endpoint, secret = await add_endpoint(services, tenant_id, change, UrlRules(True, True))
    receiver.secrets.append(secret)
    return endpoint.id


async def deliver_until(
    runtime: Runtime, done: Callable[[], bool], what: str, seconds: float = 20
) -> None:
    """Run the runtime's delivery loop (what its own loop had not sent yet) until ``done()``."""
    deliverer = runtime.webhooks
    assert deliverer is not None

    async def delivered() -> bool:
        await deliverer.run_once()
        return done()

    await until(delivered, seconds, what)

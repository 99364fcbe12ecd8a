"""A tenant's own systems for ``benchmarks.e2e``: event webhook endpoints that do not help
(``--endpoints``: one answering every delivery after 5 s, one refusing connections, both
subscribed to every attempt's end and every lead's finish), to measure that deliveries never
slow dialling; and a pre-dial hook answering at once (``--pre-dial``), to measure what asking
one costs each call."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from aiohttp import web

from dialer.services import webhook_endpoints
from dialer.services.context import Services
from dialer.services.webhook_endpoints import EndpointChange, UrlRules

SLOW_SECONDS = 5.0
EVENTS = ["attempt.ended", "lead.finished"]
# The deployment's processes must be allowed to post to loopback over plain http.
ENV = {"DIALER_WEBHOOK_ALLOW_HTTP": "true", "DIALER_WEBHOOK_ALLOW_PRIVATE": "true"}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def answering(path: str, pause: float) -> AsyncIterator[tuple[str, list[int]]]:
    """A receiver on loopback answering every POST to ``path`` with 204 after ``pause``
    seconds: its URL, and how many it answered."""
    answered = [0]

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(pause)
        answered[0] += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post(path, answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}{path}", answered
    finally:
        await runner.cleanup()


@asynccontextmanager
async def unhelpful_endpoints(services: Services, tenant_id: int) -> AsyncIterator[list[str]]:
    """Both endpoints subscribed for the tenant while the block runs; their URLs."""
    async with answering("/slow", SLOW_SECONDS) as (slow_url, answered):
        urls = [slow_url, f"http://127.0.0.1:{closed_port()}/refused"]
        for url in urls:
            change = EndpointChange(url, EVENTS, "benchmark")
            await webhook_endpoints.add_endpoint(services, tenant_id, change, UrlRules(True, True))
        try:
            yield urls
        finally:
            print(f"  the slow endpoint answered {answered[0]} deliveries", flush=True)


def instant_hook() -> AbstractAsyncContextManager[tuple[str, list[int]]]:
    """A pre-dial hook answering 204 (proceed) at once: its URL, and how many it answered."""
    return answering("/pre-dial", 0.0)


async def subscribe_hook(services: Services, tenant_id: int, url: str) -> None:
    change = EndpointChange(url, ["attempt.pre_dial"], "benchmark pre-dial hook")
    await webhook_endpoints.add_endpoint(services, tenant_id, change, UrlRules(True, True))

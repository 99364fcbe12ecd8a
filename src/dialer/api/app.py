"""The HTTP application: the REST API (/v1), provider webhooks, metrics and health."""

from __future__ import annotations

import time

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialer import __version__, metrics
from dialer.api import (
    calls,
    campaigns,
    contacts,
    costs,
    dashboard,
    dlq,
    keys,
    leads,
    messages,
    ops,
    opt_outs,
    problems,
    tenant_policy,
    webhook_endpoints,
)
from dialer.api.auth import KeyCache
from dialer.api.limits import BodyLimit
from dialer.api.message_webhooks import message_webhook_router
from dialer.api.problems import ProblemGuard
from dialer.api.request_context import RequestContext
from dialer.api.webhooks import webhook_router
from dialer.bootstrap import Runtime
from dialer.services.adhoc_calls import BacklogCounts

DESCRIPTION = """Outbound call campaigns over HTTP. Authenticate with an API key:
`Authorization: Bearer dk_...` (or `X-Auth-Token: dk_...`). Every error is a problem document
(application/problem+json) with `type`, `title`, `status`, `detail` and `errors[]`."""


class WebhookTimer:
    """Measures each provider webhook, answer included (dialer_webhook_request_seconds)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/webhooks/"):
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            elapsed = time.perf_counter() - started
            metrics.webhook_seconds.labels(str(status)).observe(elapsed)


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Dialer",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.backlog = BacklogCounts()
    app.state.key_cache = KeyCache()
    # The provider's interface, not the REST API: signed callbacks, documented in docs/api.md.
    app.include_router(webhook_router(runtime), include_in_schema=False)
    token = runtime.settings.twilio_auth_token
    auth_token = token.get_secret_value() if token else None
    app.include_router(message_webhook_router(runtime, auth_token), include_in_schema=False)
    routers = [ops, campaigns, contacts, leads, messages, calls, keys, dlq, tenant_policy, opt_outs]
    routers += [webhook_endpoints, costs]
    for module in routers:
        app.include_router(module.router)
    problems.install(app)
    dashboard.install(app, runtime)  # the operator dashboard, /dashboard
    settings = runtime.settings
    app.add_middleware(WebhookTimer)
    app.add_middleware(
        BodyLimit,
        json_limit=settings.api_max_json_bytes,
        upload_limit=settings.api_max_upload_bytes,
    )
    app.add_middleware(ProblemGuard)
    app.add_middleware(RequestContext)  # added last, the outermost: ids the 500s too
    return app

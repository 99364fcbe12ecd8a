"""Every HTTP request gets an id, a server span and one access log record.

The id is the client's ``X-Request-ID`` when it is a sane one (letters, digits and ``._:-``,
at most 128 characters), else a new one; it is bound to every log record made while the
request is handled and echoed in the response's ``X-Request-ID``. A W3C ``traceparent`` sent
by the client makes the request's span a child of the client's."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialer.observability import tracing
from dialer.observability.logs import bound, mask_text
from dialer.observability.throttle import ThrottledWarnings

log = logging.getLogger("dialer.access")

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Busy or routine paths: their access records are debug, the API's are info.
WEBHOOKS_PREFIX = "/webhooks/"
_QUIET_PREFIXES = (WEBHOOKS_PREFIX, "/metrics", "/healthz", "/readyz")
UNROUTED_LOG_PERIOD = 10.0  # seconds: at most one line per path and status in this period


def request_id_from(headers: Headers) -> str:
    offered = headers.get(REQUEST_ID_HEADER, "")
    return offered if _SANE_ID.fullmatch(offered) else uuid.uuid4().hex


def _route_name(scope: Scope) -> str | None:
    """The route's template (``/v1/leads/{lead_id}``), known once the router has matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._unrouted = ThrottledWarnings(log, UNROUTED_LOG_PERIOD)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = request_id_from(headers)
        method, path = scope["method"], mask_text(scope["path"])
        status, started = 500, time.perf_counter()

        async def answering(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with (
            bound(request_id=request_id),
            tracing.span(
                f"HTTP {method}",
                kind=tracing.SpanKind.SERVER,
                parent=headers.get("traceparent"),
                attributes={"http.request.method": method, "url.path": path},
            ) as span,
        ):
            try:
                await self.app(scope, receive, answering)
            finally:
                route = _route_name(scope)
                if route is not None:  # a template, not the path: spans group by route
                    span.rename(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                self._log(method, path, status, started)
                self._warn_if_unrouted(method, path, status, route)

    def _warn_if_unrouted(self, method: str, path: str, status: int, route: str | None) -> None:
        """A provider's callback the router itself refused (no such path: another
        provider's, a stale URL; or a wrong method) goes nowhere near the webhook handler,
        which logs its own refusals: say so at WARNING, once per path and status a period."""
        if not path.startswith(WEBHOOKS_PREFIX) or not (route is None or status == 405):
            return
        if status >= 400:
            self._unrouted.warn(
                f"{status} {method} {path}",
                "webhook %s %s answered %s: no webhook is served there (this deployment "
                "serves DIALER_PROVIDER's status webhook, by POST)",
                method,
                path,
                status,
            )

    @staticmethod
    def _log(method: str, path: str, status: int, started: float) -> None:
        level = logging.DEBUG if path.startswith(_QUIET_PREFIXES) else logging.INFO
        if not log.isEnabledFor(level):
            return
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        log.log(
            level,
            "%s %s %s",
            method,
            path,
            status,
            extra={"method": method, "path": path, "status": status, "duration_ms": elapsed_ms},
        )

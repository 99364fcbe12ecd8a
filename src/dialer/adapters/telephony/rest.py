"""What every REST provider adapter shares: one keep-alive pool with a timeout and a bound on
requests in flight, and the same translation of transport failures and HTTP statuses into
``dialer.errors`` as the Twilio adapter:

==========================================  =========================================
what happened                               raised
==========================================  =========================================
HTTP 429                                    ProviderThrottled (Retry-After honoured)
HTTP 401/403                                ProviderAuthFailed
HTTP 5xx                                    ProviderUnavailable
other HTTP 4xx                              ProviderRejected (the provider's words)
connect error / connect or pool timeout     ProviderUnavailable: nothing was sent
read/write timeout, dropped connection      ProviderOutcomeUnknown on a POST; on a GET or
                                            DELETE, ProviderUnavailable (safe to repeat)
==========================================  =========================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from dialer.adapters.telephony.twilio import retry_after
from dialer.errors import (
    ProviderAuthFailed,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from dialer.observability import tracing

# Transport errors raised before any byte of the request left: always safe to retry.
NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)

ErrorText = Callable[[httpx.Response], str]


def pooled_client(
    base_url: str, *, timeout: float, max_connections: int, **options: Any
) -> httpx.AsyncClient:
    """A keep-alive pool: at most ``max_connections`` requests in flight (the rest wait for a
    connection, up to the timeout, then fail as not sent)."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        event_hooks={"request": [tracing.send_traceparent]},  # W3C trace context
        **options,
    )


async def send(
    client: httpx.AsyncClient,
    provider: str,
    error_text: ErrorText,
    method: str,
    url: str,
    **kwargs: Any,
) -> httpx.Response:
    """One request; a non-2xx answer or a transport failure raised as a ``dialer.errors``."""
    try:
        response = await client.request(method, url, **kwargs)
    except NOT_SENT as exc:
        raise ProviderUnavailable(f"{provider} unreachable: {exc!r}") from exc
    except httpx.TransportError as exc:
        if method == "POST":
            raise ProviderOutcomeUnknown(f"{provider} did not answer: {exc!r}") from exc
        raise ProviderUnavailable(f"{provider} did not answer: {exc!r}") from exc
    if not response.is_success:
        raise status_error(provider, response, error_text(response))
    return response


def status_error(provider: str, response: httpx.Response, text: str) -> ProviderError:
    detail = f"{provider} HTTP {response.status_code}: {text}"
    status = response.status_code
    if status == httpx.codes.TOO_MANY_REQUESTS:
        return ProviderThrottled(detail, retry_after=retry_after(response.headers))
    if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
        return ProviderAuthFailed(detail)
    if response.is_server_error:
        return ProviderUnavailable(detail)
    return (
        NotFoundAtProvider(detail) if status == httpx.codes.NOT_FOUND else ProviderRejected(detail)
    )


class NotFoundAtProvider(ProviderRejected):
    """404: the provider does not know this call (or this URL)."""


def json_object(provider: str, response: httpx.Response, *, unsure: bool = False) -> dict[str, Any]:
    """The body as a JSON object. Unreadable after a create means the call may exist."""
    try:
        body = response.json()
    except ValueError as exc:
        error = ProviderOutcomeUnknown if unsure else ProviderUnavailable
        raise error(f"{provider} sent a body that is not JSON: {response.text[:200]!r}") from exc
    if not isinstance(body, dict):
        error = ProviderOutcomeUnknown if unsure else ProviderUnavailable
        raise error(f"{provider} sent unexpected JSON: {body!r}")
    return body


def int_or_none(value: object) -> int | None:
    try:
        return int(float(str(value))) if value not in (None, "") else None
    except ValueError:
        return None

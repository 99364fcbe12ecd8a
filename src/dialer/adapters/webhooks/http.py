"""Webhook requests over httpx, to the address that was checked.

The host is resolved here and every address it resolves to is judged (loopback, private,
link-local, reserved: refused unless allowed); the request then goes to that checked
address, with the name kept in the Host header and in TLS (SNI and certificate check), so
that a DNS answer changing between the check and the connection (rebinding) cannot point it
elsewhere. Redirects are not followed: a redirect could lead anywhere."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult, urlsplit

import httpx

from dialer.domain.urls import address_reason
from dialer.ports.webhook_sender import WebhookAnswer, WebhookUnreachable

Resolve = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookUnreachable(f"{host} does not resolve: {exc}") from exc
    # an IPv6 link-local answer carries its zone ("fe80::1%eth0"): the address is before it
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in found))


def _pinned(parts: SplitResult, address: str) -> str:
    """The URL with its host replaced by the checked address."""
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{host}{port}").geturl()


class HttpWebhookSender:
    def __init__(
        self,
        timeout: float,
        *,
        allow_http: bool = False,
        allow_private: bool = False,
        resolver: Resolve = resolve,
    ) -> None:
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._allow_http = allow_http
        self._allow_private = allow_private
        self._resolve = resolver

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        parts = urlsplit(url)
        if parts.scheme != "https" and not (self._allow_http and parts.scheme == "http"):
            raise WebhookUnreachable(f"refused: {parts.scheme} is not https", refused=True)
        host = parts.hostname or ""
        address = await self._checked_address(host, parts.port or _default_port(parts))
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        started = time.perf_counter()
        try:
            response = await self._client.post(
                _pinned(parts, address),
                content=body,
                headers={**headers, "host": parts.netloc.rpartition("@")[2]},
                extensions=extensions,
            )
        except httpx.TimeoutException as exc:
            raise WebhookUnreachable(f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise WebhookUnreachable(f"{type(exc).__name__}: {exc}") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        wait = retry_after(response.headers.get("retry-after"), time.time())
        return WebhookAnswer(response.status_code, latency_ms, response.content, wait)

    async def _checked_address(self, host: str, port: int) -> str:
        addresses = await self._resolve(host, port)
        if not addresses:
            raise WebhookUnreachable(f"{host} resolves to no address")
        if not self._allow_private:
            for address in addresses:
                reason = address_reason(address)
                if reason is not None:
                    raise WebhookUnreachable(f"refused: {host} resolves to {reason}", refused=True)
        return addresses[0]

    async def aclose(self) -> None:
        await self._client.aclose()


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a Retry-After header asks for (RFC 9110: whole seconds, or an HTTP date);
    None when there is none or it cannot be read."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


def _default_port(parts: SplitResult) -> int:
    return 443 if parts.scheme == "https" else 80

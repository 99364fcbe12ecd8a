"""Sending one signed webhook request to a tenant's endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from dialer.errors import DialerError


class WebhookUnreachable(DialerError):
    """No answer: refused connection, timeout, TLS or DNS failure, or an address the SSRF
    rules forbid (``refused``: such an endpoint will not get better by retrying soon)."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class WebhookAnswer:
    status_code: int
    latency_ms: float
    body: bytes = b""  # what the endpoint answered (a pre-dial hook's verdict)
    retry_after: float | None = None  # seconds its Retry-After header asks us to wait


class WebhookSender(Protocol):
    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        """POST ``body``; the answer's status, or WebhookUnreachable."""
        ...

    async def aclose(self) -> None: ...

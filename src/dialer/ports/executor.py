"""The executor port: hands admitted originations over to be sent (inline or Celery)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from dialer.domain.pre_dial import PreDialHook
from dialer.ports.admission import Scope
from dialer.ports.telephony import CallRequest


@dataclass(frozen=True)
class Origination:
    """One admitted attempt, ready to be sent to the provider."""

    attempt_id: int
    lead_id: int
    campaign_id: int
    tenant_id: int
    lease_id: str
    request: CallRequest
    traceparent: str | None = None  # the attempt's trace context, across processes
    # The limits it was admitted under: its send is spaced on the same rates. None (a job
    # queued before sends were spaced): sent without waiting.
    scope: Scope | None = None
    pre_dial: PreDialHook | None = None  # the campaign's hook, asked before the send


class Executor(Protocol):
    async def submit(self, batch: Sequence[Origination]) -> None:
        """Hand a batch of originations over; returns once they are queued, not done."""
        ...

    async def drain(self) -> None:
        """Wait until everything submitted has been sent."""
        ...

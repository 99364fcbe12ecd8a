"""The admission port: caps, rates, number locks and send slots, all or nothing per request."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from dialer.domain.model import (
    Rate,
    Rates,
)


class Limit(StrEnum):
    """Which limit refused an admission: the dispatcher backs off precisely on it."""

    GLOBAL_CAP = "global_cap"
    TENANT_CAP = "tenant_cap"
    CAMPAIGN_CAP = "campaign_cap"
    NUMBER_BUSY = "number_busy"
    GLOBAL_RATE = "global_rate"
    TENANT_RATE = "tenant_rate"
    CAMPAIGN_RATE = "campaign_rate"


CAMPAIGN_WIDE_LIMITS = frozenset(set(Limit) - {Limit.NUMBER_BUSY})


@dataclass(frozen=True)
class Scope:
    """The limits one campaign's calls are admitted under."""

    tenant_id: int
    campaign_id: int
    global_max: int
    campaign_max: int
    tenant_max: int | None = None
    # Each level may carry several limiters (per second, per minute, per hour).
    campaign_rate: Rate | Rates | None = None
    tenant_rate: Rate | Rates | None = None
    global_rate: Rate | Rates | None = None
    # Messages are paced on limiters of their own: ``channel`` keeps an SMS step's limiters
    # apart from the same campaign's calls, and a sender number has its own rate (1 message
    # per second on a long code).
    channel: str = "call"
    step: int | None = None  # a message step's own rate is the campaign-level one, per step
    sender: str | None = None
    sender_rate: Rate | None = None


@dataclass(frozen=True)
class Lease:
    """One admitted call's hold on every limit; released when the call ends, or expires."""

    id: str
    tenant_id: int
    campaign_id: int
    phone: str
    expires_at: float  # seconds since the epoch, on the admission backend's clock


@dataclass(frozen=True)
class AdmissionResult:
    admitted: bool
    lease: Lease | None = None
    refused_by: Limit | None = None
    retry_after: float | None = None  # seconds until the refusing limit may allow it


@dataclass(frozen=True)
class SendSlot:
    """When an admitted call may go to the provider: ``wait`` seconds from now (0: at once).
    ``reserved`` is False when the wait would have exceeded the caller's bound: then nothing
    was taken, and the call must not be sent."""

    at: float  # seconds since the epoch, on the backend's clock; 0.0 for a scope without rates
    wait: float
    reserved: bool = True


@dataclass(frozen=True)
class Usage:
    """Leases held now, by scope."""

    global_active: int
    by_tenant: Mapping[int, int] = field(default_factory=dict)
    by_campaign: Mapping[int, int] = field(default_factory=dict)


class Admission(Protocol):
    """Caps, number locks and rates, shared by every dispatcher using the same backend.

    Until its state is known-good (``needs_rebuild()`` is False) a backend admits nothing:
    acquires are refused with ``refused_by`` None and ``headroom`` is 0. The reconciler
    rebuilds it from the store's live attempts."""

    async def acquire_batch(
        self, scope: Scope, requests: Sequence[tuple[str, str]], ttl: float
    ) -> list[AdmissionResult]:
        """Admit calls of one campaign, each ``(lease_id, phone)``, all-or-nothing per call:
        a call either takes every limit at once or none. Results are in request order."""
        ...

    async def release(self, lease: Lease) -> bool:
        """Give the lease back. Idempotent: True only the first time."""
        ...

    async def release_many(self, leases: Sequence[Lease]) -> int:
        """``release`` for each, in one round trip: how many were held."""
        ...

    async def renew(self, lease: Lease, ttl: float) -> bool:
        """Extend a live lease; False (and no change) when it has expired or been released."""
        ...

    async def headroom(self, scope: Scope) -> int:
        """How many calls of this campaign the caps and rates would admit right now, ignoring
        number locks: the dispatcher claims no more leads than this."""
        ...

    async def reserve_send(self, scope: Scope, max_wait: float) -> SendSlot:
        """Take the next send slot on every rate limiter of the scope at once, on state of its
        own (not admission's): the instant ``t = max(now, max(TAT - tolerance))`` over the
        limiters, each of whose TAT then becomes ``max(TAT, t) + interval``; each limiter at
        its rate, one call of its burst held back for the delays after the slot (see
        ``RateLimiter.send_gcra``). Admission bounds how many calls start; this spaces the
        sends themselves, so that delays between the dispatcher and the sender (broker,
        workers) cannot bunch them at the provider. A wait above ``max_wait`` takes nothing
        (``reserved`` False)."""
        ...

    async def usage(self) -> Usage: ...

    async def ping(self) -> None:
        """Raise ``AdmissionUnavailable`` unless the backend answers (readiness checks)."""
        ...

    async def needs_rebuild(self) -> bool:
        """True while the state is not known-good (Redis lost its data, a process started
        with state unknown): nothing is admitted until ``rebuild()`` has run."""
        ...

    async def rebuild(self, leases: Sequence[Lease]) -> bool:
        """Put back these leases (the store's live attempts) and mark the state known-good, in
        that order. False, changing nothing, when it is not needed (any more) or another
        process is rebuilding: safe to race."""
        ...

    async def restore(self, leases: Sequence[Lease]) -> int:
        """Put back any of these live leases that is missing (a failover lost recent writes),
        except leases released in the last minutes. Returns how many were added."""
        ...

    async def prune(self, keep: Collection[str], grace: float) -> int:
        """Drop leases held for more than ``grace`` seconds whose id is not in ``keep`` (their
        attempt ended and the release was lost). Returns how many were dropped."""
        ...

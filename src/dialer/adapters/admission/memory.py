"""In-process admission: the embedded default. One process, one event loop, exact.

It keeps the same model as the Redis backend: each cap is a set of leases with expiry instants
(expired ones are swept on acquire, so a lost release comes back by itself), each number has
at most one live lease, and rates are GCRA limiters. Every acquire takes everything or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dialer.domain.model import Rate
from dialer.domain.pacing import Gcra
from dialer.ports import AdmissionResult, Lease, Limit, Scope, Usage


@dataclass
class _Pool:
    """Leases held against one cap: id -> expiry."""

    leases: dict[str, float] = field(default_factory=dict)

    def sweep(self, now: float) -> None:
        for lease_id in [k for k, exp in self.leases.items() if exp <= now]:
            del self.leases[lease_id]


class MemoryAdmission:
    def __init__(self, clock: Callable[[], float]) -> None:
        """``clock`` gives seconds since the epoch (the dialer's clock, possibly scaled)."""
        self._clock = clock
        self._global = _Pool()
        self._tenants: dict[int, _Pool] = {}
        self._campaigns: dict[int, _Pool] = {}
        self._numbers: dict[str, tuple[str, float]] = {}
        self._rates: dict[tuple[str, int], float] = {}  # limiter -> theoretical arrival time

    async def acquire_batch(
        self, scope: Scope, requests: Sequence[tuple[str, str]], ttl: float
    ) -> list[AdmissionResult]:
        now = self._clock()
        self._sweep(scope, now)
        return [self._acquire_one(scope, lease_id, phone, ttl, now) for lease_id, phone in requests]

    def _acquire_one(
        self, scope: Scope, lease_id: str, phone: str, ttl: float, now: float
    ) -> AdmissionResult:
        refusal = self._cap_refusal(scope) or self._number_refusal(phone, now)
        if refusal is not None:
            return AdmissionResult(False, refused_by=refusal)
        limiter, wait = self._rate_refusal(scope, now)
        if limiter is not None:
            return AdmissionResult(False, refused_by=limiter, retry_after=wait)
        self._take_rates(scope, now)
        expires = now + ttl
        for pool in self._pools(scope):
            pool.leases[lease_id] = expires
        self._numbers[phone] = (lease_id, expires)
        lease = Lease(lease_id, scope.tenant_id, scope.campaign_id, phone, expires)
        return AdmissionResult(True, lease=lease)

    def _pools(self, scope: Scope) -> list[_Pool]:
        return [
            self._global,
            self._tenants.setdefault(scope.tenant_id, _Pool()),
            self._campaigns.setdefault(scope.campaign_id, _Pool()),
        ]

    def _sweep(self, scope: Scope, now: float) -> None:
        for pool in self._pools(scope):
            pool.sweep(now)

    def _cap_refusal(self, scope: Scope) -> Limit | None:
        if len(self._global.leases) >= scope.global_max:
            return Limit.GLOBAL_CAP
        tenant = self._tenants.setdefault(scope.tenant_id, _Pool())
        if scope.tenant_max is not None and len(tenant.leases) >= scope.tenant_max:
            return Limit.TENANT_CAP
        if len(self._campaigns.setdefault(scope.campaign_id, _Pool()).leases) >= scope.campaign_max:
            return Limit.CAMPAIGN_CAP
        return None

    def _number_refusal(self, phone: str, now: float) -> Limit | None:
        held = self._numbers.get(phone)
        return Limit.NUMBER_BUSY if held is not None and held[1] > now else None

    def _limiters(self, scope: Scope) -> list[tuple[Limit, tuple[str, int], Rate]]:
        found = [
            (Limit.GLOBAL_RATE, ("global", 0), scope.global_rate),
            (Limit.TENANT_RATE, ("tenant", scope.tenant_id), scope.tenant_rate),
            (Limit.CAMPAIGN_RATE, ("campaign", scope.campaign_id), scope.campaign_rate),
        ]
        return [(limit, key, rate) for limit, key, rate in found if rate is not None]

    def _rate_refusal(self, scope: Scope, now: float) -> tuple[Limit | None, float]:
        for limit, key, rate in self._limiters(scope):
            gcra = Gcra(rate.interval, rate.burst)
            tat = self._rates.get(key, now)
            if not gcra.allows(tat, now):
                return limit, gcra.wait(tat, now)
        return None, 0.0

    def _take_rates(self, scope: Scope, now: float) -> None:
        for _limit, key, rate in self._limiters(scope):
            gcra = Gcra(rate.interval, rate.burst)
            self._rates[key] = gcra.after_allow(self._rates.get(key, now), now)

    async def release(self, lease: Lease) -> bool:
        released = False
        for pool in self._pools_of(lease):
            released = pool.leases.pop(lease.id, None) is not None or released
        held = self._numbers.get(lease.phone)
        if held is not None and held[0] == lease.id:
            del self._numbers[lease.phone]
            released = True
        return released

    def _pools_of(self, lease: Lease) -> list[_Pool]:
        pools = [self._global]
        for registry, key in (
            (self._tenants, lease.tenant_id),
            (self._campaigns, lease.campaign_id),
        ):
            if key in registry:
                pools.append(registry[key])
        return pools

    async def renew(self, lease: Lease, ttl: float) -> bool:
        now = self._clock()
        expiry = self._global.leases.get(lease.id)
        if expiry is None or expiry <= now:
            return False
        expires = now + ttl
        for pool in self._pools_of(lease):
            if lease.id in pool.leases:
                pool.leases[lease.id] = expires
        if self._numbers.get(lease.phone, ("", 0.0))[0] == lease.id:
            self._numbers[lease.phone] = (lease.id, expires)
        return True

    async def headroom(self, scope: Scope) -> int:
        now = self._clock()
        self._sweep(scope, now)
        free = [
            scope.global_max - len(self._global.leases),
            scope.campaign_max - len(self._campaigns.setdefault(scope.campaign_id, _Pool()).leases),
        ]
        if scope.tenant_max is not None:
            free.append(
                scope.tenant_max - len(self._tenants.setdefault(scope.tenant_id, _Pool()).leases)
            )
        for _limit, key, rate in self._limiters(scope):
            free.append(Gcra(rate.interval, rate.burst).capacity(self._rates.get(key, now), now))
        return max(0, min(free))

    async def usage(self) -> Usage:
        now = self._clock()
        self._global.sweep(now)
        return Usage(
            global_active=len(self._global.leases),
            by_tenant={t: len(p.leases) for t, p in self._tenants.items() if p.leases},
            by_campaign={c: len(p.leases) for c, p in self._campaigns.items() if p.leases},
        )

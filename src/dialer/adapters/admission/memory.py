"""In-process admission: the embedded default. One process, one event loop, exact.

It keeps the same model as the Redis backend: each cap is a set of leases with expiry instants
(expired ones are swept on acquire, so a lost release comes back by itself), each number has
at most one live lease, and rates are GCRA limiters. Every acquire takes everything or nothing.

State lives as long as the process: a backend built with ``ready=False`` refuses every call
until ``rebuild()`` has put back the leases of the calls still live (after a restart).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from dialer.domain.model import Rate
from dialer.domain.pacing import Gcra
from dialer.ports import AdmissionResult, Lease, Limit, Scope, SendSlot, Usage

# How long a released lease is remembered, so that restore() skips it: longer than a
# reconciler pass takes from reading the store to restoring.
GONE_SECONDS = 60.0


@dataclass(frozen=True)
class RateLimiter:
    """One GCRA limiter a scope's calls pass: which limit it is, its state's key, its rate."""

    limit: Limit
    key: str
    rate: Rate

    @property
    def gcra(self) -> Gcra:
        return Gcra(self.rate.interval, self.rate.burst)

    @property
    def send_gcra(self) -> Gcra:
        """The limiter of send slots: one call of the burst held back. What follows a slot
        (the sent marker's commit, the request) takes a few milliseconds more or less for each
        call; a second at the provider that caught one call late at its start and one early
        at its end would hold one more than the rate allows. One call of slack absorbs any
        spread up to one interval (20 ms at 50/s). A burst of one has none to give."""
        return Gcra(self.rate.interval, max(1, self.rate.burst - 1))


def rate_limiters(scope: Scope) -> list[RateLimiter]:
    """The scope's limiters, global first, then tenant, then campaign; each level may carry
    one rate or several (e.g. per second, per minute and per hour, each with its burst)."""
    channel = "" if scope.channel == "call" else f"{scope.channel}:"
    step = "" if scope.step is None else f".{scope.step}"
    levels = [
        (Limit.GLOBAL_RATE, f"{channel}g", scope.global_rate),
        (Limit.TENANT_RATE, f"{channel}t:{scope.tenant_id}", scope.tenant_rate),
        (Limit.CAMPAIGN_RATE, f"{channel}c:{scope.campaign_id}{step}", scope.campaign_rate),
    ]
    if scope.sender is not None:
        levels.append((Limit.CAMPAIGN_RATE, f"{channel}s:{scope.sender}", scope.sender_rate))
    return [
        RateLimiter(limit, f"{name}:{index}", rate)
        for limit, name, rates in levels
        for index, rate in enumerate(_each(rates))
    ]


def _each(rates: Rate | Sequence[Rate] | None) -> Sequence[Rate]:
    if rates is None:
        return ()
    return (rates,) if isinstance(rates, Rate) else tuple(rates)


@dataclass
class _Pool:
    """Leases held against one cap: id -> expiry."""

    leases: dict[str, float] = field(default_factory=dict)

    def sweep(self, now: float) -> list[str]:
        expired = [k for k, exp in self.leases.items() if exp <= now]
        for lease_id in expired:
            del self.leases[lease_id]
        return expired


@dataclass(frozen=True)
class _Held:
    lease: Lease
    acquired_at: float


class MemoryAdmission:
    def __init__(self, clock: Callable[[], float], *, ready: bool = True) -> None:
        """``clock`` gives seconds since the epoch (the dialer's clock, possibly scaled).
        ``ready=False``: refuse every call until ``rebuild()`` (state unknown at start)."""
        self._clock = clock
        self._ready = ready
        self._global = _Pool()
        self._tenants: dict[int, _Pool] = {}
        self._campaigns: dict[int, _Pool] = {}
        self._numbers: dict[str, tuple[str, float]] = {}
        self._rates: dict[str, float] = {}  # limiter key -> theoretical arrival time
        self._sends: dict[str, float] = {}  # the same, for the send slots (reserve_send)
        self._held: dict[str, _Held] = {}
        self._gone: dict[str, float] = {}  # released lease id -> when, oldest first

    # ------------------------------------------------------------ acquire

    async def acquire_batch(
        self, scope: Scope, requests: Sequence[tuple[str, str]], ttl: float
    ) -> list[AdmissionResult]:
        if not self._ready:
            return [AdmissionResult(False) for _ in requests]
        now = self._clock()
        self._sweep(scope, now)
        limiters = rate_limiters(scope)
        return [
            self._acquire_one(scope, limiters, lease_id, phone, ttl, now)
            for lease_id, phone in requests
        ]

    def _acquire_one(
        self,
        scope: Scope,
        limiters: list[RateLimiter],
        lease_id: str,
        phone: str,
        ttl: float,
        now: float,
    ) -> AdmissionResult:
        refusal = self._cap_refusal(scope) or self._number_refusal(phone, now)
        if refusal is not None:
            return AdmissionResult(False, refused_by=refusal)
        limiter, wait = self._rate_refusal(limiters, now)
        if limiter is not None:
            return AdmissionResult(False, refused_by=limiter, retry_after=wait)
        self._take_rates(limiters, now)
        lease = Lease(lease_id, scope.tenant_id, scope.campaign_id, phone, now + ttl)
        self._hold(lease, now)
        return AdmissionResult(True, lease=lease)

    def _hold(self, lease: Lease, now: float, *, number: bool = True) -> None:
        for pool in self._pools(lease.tenant_id, lease.campaign_id):
            pool.leases[lease.id] = lease.expires_at
        if number:
            self._numbers[lease.phone] = (lease.id, lease.expires_at)
        self._held[lease.id] = _Held(lease, now)

    def _pools(self, tenant_id: int, campaign_id: int) -> list[_Pool]:
        return [
            self._global,
            self._tenants.setdefault(tenant_id, _Pool()),
            self._campaigns.setdefault(campaign_id, _Pool()),
        ]

    def _sweep(self, scope: Scope, now: float) -> None:
        for pool in self._pools(scope.tenant_id, scope.campaign_id):
            self._forget(pool.sweep(now), pool)

    def _sweep_all(self, now: float) -> None:
        for pool in [self._global, *self._tenants.values(), *self._campaigns.values()]:
            self._forget(pool.sweep(now), pool)

    def _forget(self, expired: list[str], pool: _Pool) -> None:
        if pool is self._global:
            for lease_id in expired:
                self._held.pop(lease_id, None)

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
        return Limit.NUMBER_BUSY if self._number_held(phone, now) else None

    def _number_held(self, phone: str, now: float) -> bool:
        held = self._numbers.get(phone)
        return held is not None and held[1] > now

    def _rate_refusal(self, limiters: list[RateLimiter], now: float) -> tuple[Limit | None, float]:
        for limiter in limiters:
            gcra = limiter.gcra
            tat = self._rates.get(limiter.key, now)
            if not gcra.allows(tat, now):
                return limiter.limit, gcra.wait(tat, now)
        return None, 0.0

    def _take_rates(self, limiters: list[RateLimiter], now: float) -> None:
        for limiter in limiters:
            self._rates[limiter.key] = limiter.gcra.after_allow(
                self._rates.get(limiter.key, now), now
            )

    # ------------------------------------------------------------ send slots

    async def reserve_send(self, scope: Scope, max_wait: float) -> SendSlot:
        limiters = rate_limiters(scope)
        if not limiters:
            return SendSlot(0.0, 0.0)
        now = self._clock()
        taken = [(limiter, self._sends.get(limiter.key, now)) for limiter in limiters]
        at = max(limiter.send_gcra.earliest(tat, now) for limiter, tat in taken)
        if at - now > max_wait:
            return SendSlot(at, at - now, reserved=False)
        for limiter, tat in taken:
            self._sends[limiter.key] = limiter.send_gcra.after_allow(tat, at)
        return SendSlot(at, at - now)

    # ------------------------------------------------------------ release and renew

    async def release(self, lease: Lease) -> bool:
        return self._release(lease, self._clock())

    async def release_many(self, leases: Sequence[Lease]) -> int:
        now = self._clock()
        return sum(self._release(lease, now) for lease in leases)

    def _release(self, lease: Lease, now: float) -> bool:
        released = False
        for pool in self._pools_of(lease):
            released = pool.leases.pop(lease.id, None) is not None or released
        held = self._numbers.get(lease.phone)
        if held is not None and held[0] == lease.id:
            del self._numbers[lease.phone]
            released = True
        self._held.pop(lease.id, None)
        self._remember_gone(lease.id, now)
        return released

    def _remember_gone(self, lease_id: str, now: float) -> None:
        self._gone.pop(lease_id, None)
        self._gone[lease_id] = now
        while next(iter(self._gone.values())) < now - GONE_SECONDS:
            del self._gone[next(iter(self._gone))]

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

    # ------------------------------------------------------------ reading

    async def headroom(self, scope: Scope) -> int:
        if not self._ready:
            return 0
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
        for limiter in rate_limiters(scope):
            free.append(limiter.gcra.capacity(self._rates.get(limiter.key, now), now))
        return max(0, min(free))

    async def ping(self) -> None:
        """In-process: always answers."""

    async def usage(self) -> Usage:
        self._sweep_all(self._clock())
        return Usage(
            global_active=len(self._global.leases),
            by_tenant={t: len(p.leases) for t, p in self._tenants.items() if p.leases},
            by_campaign={c: len(p.leases) for c, p in self._campaigns.items() if p.leases},
        )

    # ------------------------------------------------------------ reconciling

    async def needs_rebuild(self) -> bool:
        return not self._ready

    async def rebuild(self, leases: Sequence[Lease]) -> bool:
        if self._ready:
            return False
        self._restore(leases, self._clock())
        self._ready = True
        return True

    async def restore(self, leases: Sequence[Lease]) -> int:
        return self._restore(leases, self._clock()) if self._ready else 0

    def _restore(self, leases: Sequence[Lease], now: float) -> int:
        added = 0
        for lease in leases:
            if lease.expires_at <= now or lease.id in self._gone:
                continue
            if self._global.leases.get(lease.id, 0.0) > now:
                continue
            # A number lock held by another live lease is left to its holder.
            self._hold(lease, now, number=not self._number_held(lease.phone, now))
            added += 1
        return added

    async def prune(self, keep: Collection[str], grace: float) -> int:
        now = self._clock()
        self._sweep_all(now)
        stale = [
            held.lease
            for lease_id, held in self._held.items()
            if held.acquired_at < now - grace and lease_id not in keep
        ]
        return sum(self._release(lease, now) for lease in stale)

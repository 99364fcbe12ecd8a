"""Admission on Redis: exact caps, number locks and rates shared by every dispatcher, on any
number of machines. It behaves as the in-process backend does (one contract suite for both).

Every operation is one Lua script (``lua/<name>.lua``), run by SHA (EVALSHA, loaded again
after a NOSCRIPT answer, e.g. once Redis restarted) on the server's clock (TIME), so that
dispatchers with skewed clocks still agree. A batch of N calls of one campaign is one script
run: one round trip, all-or-nothing per call.

Keys, all under one hash tag ``{namespace}`` (a Redis Cluster keeps them in one slot):

    epoch                   present while the state is known-good; acquires need it
    rebuild                 the rebuild lock (see ``rebuild``)
    cap:g, cap:t:<tenant>,  sorted sets of lease ids scored by expiry (microseconds);
    cap:c:<campaign>        expired members are swept on acquire with ZREMRANGEBYSCORE
    num:<phone>             the lease holding the number; expires with it (PXAT)
    meta                    hash: lease id -> tenant, campaign, phone, acquired at
    gone                    sorted set: recently released lease ids (tombstones)
    reg:t, reg:c            tenants and campaigns that have a cap set (usage, sweeps)
    rate:<limiter>          a GCRA limiter's theoretical arrival time (microseconds)
    send:<limiter>          the same limiter's TAT for send slots (``reserve_send``)

No command walks the key space; per call the scripts do O(log n) sorted-set work.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dialer.adapters.admission.memory import GONE_SECONDS, RateLimiter, rate_limiters
from dialer.errors import AdmissionUnavailable
from dialer.ports import AdmissionResult, Lease, Limit, Scope, SendSlot, Usage

US = 1_000_000  # the scripts count time in microseconds
SCRIPTS = ("acquire", "headroom", "release", "renew", "restore", "send", "sweep")
RESTORE_CHUNK = 500  # leases per restore script run: keeps each run short
RELEASE_CHUNK = 500
REBUILD_LOCK_MS = 10_000  # a rebuilder that dies frees the lock after this long
_LIMITS = {limit.value: limit for limit in Limit}
HEALTH_CHECK_SECONDS = 2  # a pooled connection idle this long is PINGed before use
CONNECTION_RETRIES = 2  # a command meeting a broken connection is sent again this often
RETRY_BACKOFF_BASE = 0.05  # seconds before the first retry, doubling ...
RETRY_BACKOFF_CAP = 0.5  # ... up to this

Arg = str | int | float


@dataclass(frozen=True)
class _Keys:
    prefix: str

    @classmethod
    def of(cls, namespace: str) -> _Keys:
        return cls(f"{{{namespace}}}:")

    @property
    def epoch(self) -> str:
        return f"{self.prefix}epoch"

    @property
    def rebuild(self) -> str:
        return f"{self.prefix}rebuild"

    @property
    def global_cap(self) -> str:
        return f"{self.prefix}cap:g"

    @property
    def meta(self) -> str:
        return f"{self.prefix}meta"

    @property
    def gone(self) -> str:
        return f"{self.prefix}gone"

    @property
    def tenants(self) -> str:
        return f"{self.prefix}reg:t"

    @property
    def campaigns(self) -> str:
        return f"{self.prefix}reg:c"

    def tenant_cap(self, tenant_id: int | str) -> str:
        return f"{self.prefix}cap:t:{tenant_id}"

    def campaign_cap(self, campaign_id: int | str) -> str:
        return f"{self.prefix}cap:c:{campaign_id}"

    def number(self, phone: str) -> str:
        return f"{self.prefix}num:{phone}"

    def rate(self, limiter: RateLimiter) -> str:
        return f"{self.prefix}rate:{limiter.key}"

    def send(self, limiter: RateLimiter) -> str:
        return f"{self.prefix}send:{limiter.key}"

    def of_lease(self, lease: Lease) -> list[str]:
        return [
            self.tenant_cap(lease.tenant_id),
            self.campaign_cap(lease.campaign_id),
            self.number(lease.phone),
        ]


class Scripts:
    """The Lua scripts, read once by name, run by SHA, loaded again on NOSCRIPT."""

    def __init__(self, client: Redis, names: Sequence[str] = SCRIPTS) -> None:
        self._client = client
        folder = resources.files("dialer.adapters.admission") / "lua"
        self.source = {name: (folder / f"{name}.lua").read_text() for name in names}
        self.sha = {
            name: hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
            for name, text in self.source.items()
        }

    async def run(self, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        try:
            return await self._client.evalsha(self.sha[name], len(keys), *keys, *args)
        except NoScriptError:
            await self._client.script_load(self.source[name])
            return await self._client.evalsha(self.sha[name], len(keys), *keys, *args)


@asynccontextmanager
async def answering(operation: str) -> AsyncIterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise AdmissionUnavailable(f"admission {operation}: {exc}") from exc


def _us(seconds: float) -> int:
    return round(seconds * US)


def _caps(scope: Scope) -> list[Arg]:
    tenant_max = -1 if scope.tenant_max is None else scope.tenant_max
    return [scope.global_max, tenant_max, scope.campaign_max]


def _limiter_args(limiters: Sequence[RateLimiter]) -> list[Arg]:
    args: list[Arg] = [len(limiters)]
    for limiter in limiters:
        gcra = limiter.gcra
        args += [limiter.limit.value, gcra.interval * US, gcra.tolerance * US]
    return args


def _lease_args(lease: Lease) -> list[Arg]:
    return [lease.id, lease.tenant_id, lease.campaign_id, lease.phone, _us(lease.expires_at)]


class RedisAdmission:
    def __init__(self, client: Redis, *, namespace: str = "dialer") -> None:
        """``client`` must decode responses (``decode_responses=True``). Every dispatcher
        sharing limits uses the same ``namespace``."""
        self._client = client
        self._keys = _Keys.of(namespace)
        self._scripts = Scripts(client)
        self._owned_pool: BlockingConnectionPool | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "dialer",
        max_connections: int = 64,
        timeout: float = 10.0,
    ) -> RedisAdmission:
        """A backend with its own connection pool (closed by ``aclose``).

        A restarted Redis is picked up at once: a pooled connection idle for a while is
        checked (PING) before use, and a command that meets a broken connection is sent again
        on a new one. Only connection errors are retried, never a timeout: a script whose
        answer timed out may have run, and it is not run twice. A connection error after the
        script ran (the server closed it in between) can at worst run it twice, which every
        script allows: the same lease id is added once, a number already held by that lease
        refuses (its slot comes back by expiry and the reconciler's prune), and a rate's
        arrival time moves further (slower, never faster)."""
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
            health_check_interval=HEALTH_CHECK_SECONDS,
            retry=Retry(
                ExponentialBackoff(cap=RETRY_BACKOFF_CAP, base=RETRY_BACKOFF_BASE),
                CONNECTION_RETRIES,
                supported_errors=(RedisConnectionError,),
            ),
        )
        admission = cls(Redis(connection_pool=pool), namespace=namespace)
        admission._owned_pool = pool
        return admission

    @property
    def client(self) -> Redis:
        """The connection pool's client (the budget ledger shares it)."""
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._owned_pool is not None:
            await self._owned_pool.aclose()

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        async with answering(name):
            return await self._scripts.run(name, keys, args)

    # ------------------------------------------------------------ acquire

    async def acquire_batch(
        self, scope: Scope, requests: Sequence[tuple[str, str]], ttl: float
    ) -> list[AdmissionResult]:
        if not requests:
            return []
        limiters = rate_limiters(scope)
        keys = [*self._scope_keys(scope), self._keys.meta, self._keys.tenants]
        keys += [self._keys.campaigns, *(self._keys.rate(limiter) for limiter in limiters)]
        keys += [self._keys.number(phone) for _, phone in requests]
        args = [*_caps(scope), _us(ttl), scope.tenant_id, scope.campaign_id]
        args += [*_limiter_args(limiters), *itertools.chain.from_iterable(requests)]
        answer = await self._run("acquire", keys, args)
        return [
            _result(scope, request, code, value)
            for request, code, value in zip(requests, answer[1::2], answer[2::2], strict=True)
        ]

    def _scope_keys(self, scope: Scope) -> list[str]:
        keys = self._keys
        return [
            keys.epoch,
            keys.global_cap,
            keys.tenant_cap(scope.tenant_id),
            keys.campaign_cap(scope.campaign_id),
        ]

    # ------------------------------------------------------------ send slots

    async def reserve_send(self, scope: Scope, max_wait: float) -> SendSlot:
        limiters = rate_limiters(scope)
        if not limiters:
            return SendSlot(0.0, 0.0)  # nothing to space (no instant either): no round trip
        keys = [self._keys.send(limiter) for limiter in limiters]
        args: list[Arg] = [_us(max_wait)]
        for limiter in limiters:
            args += [limiter.send_gcra.interval * US, limiter.send_gcra.tolerance * US]
        reserved, at, wait = await self._run("send", keys, args)
        return SendSlot(int(at) / US, int(wait) / US, reserved=bool(int(reserved)))

    # ------------------------------------------------------------ release and renew

    async def release(self, lease: Lease) -> bool:
        return await self.release_at(lease) is not None

    async def release_many(self, leases: Sequence[Lease]) -> int:
        if not leases:
            return 0
        _, held = await self._release(leases)
        return sum(held)

    async def release_at(self, lease: Lease) -> float | None:
        """Release the lease; the server time (seconds) it was released at, or None when it
        was not held (already released, or expired and swept)."""
        now, [held] = await self._release([lease])
        return now / US if held else None

    async def _release(self, leases: Sequence[Lease]) -> tuple[int, list[int]]:
        keys = [self._keys.global_cap, self._keys.meta, self._keys.gone]
        keys += itertools.chain.from_iterable(self._keys.of_lease(lease) for lease in leases)
        answer = await self._run("release", keys, [_us(GONE_SECONDS), *(x.id for x in leases)])
        return int(answer[0]), [int(flag) for flag in answer[1:]]

    async def renew(self, lease: Lease, ttl: float) -> bool:
        keys = [self._keys.global_cap, *self._keys.of_lease(lease)]
        return int(await self._run("renew", keys, [lease.id, _us(ttl)])) > 0

    # ------------------------------------------------------------ reading

    async def headroom(self, scope: Scope) -> int:
        limiters = rate_limiters(scope)
        keys = [*self._scope_keys(scope), *(self._keys.rate(limiter) for limiter in limiters)]
        return int(await self._run("headroom", keys, [*_caps(scope), *_limiter_args(limiters)]))

    async def usage(self) -> Usage:
        tenants, campaigns, answer = await self._sweep()
        counts = [int(n) for n in answer[2:]]
        return Usage(
            global_active=int(answer[1]),
            by_tenant=_nonzero(tenants, counts[: len(tenants)]),
            by_campaign=_nonzero(campaigns, counts[len(tenants) :]),
        )

    async def _sweep(self) -> tuple[list[str], list[str], list[Any]]:
        """Sweep expired leases from every cap; the tenants, campaigns and the answer."""
        async with answering("sweep"):
            tenants = _texts(await self._client.smembers(self._keys.tenants))
            campaigns = _texts(await self._client.smembers(self._keys.campaigns))
        keys = [self._keys.global_cap, self._keys.meta, self._keys.tenants, self._keys.campaigns]
        keys += [self._keys.tenant_cap(t) for t in tenants]
        keys += [self._keys.campaign_cap(c) for c in campaigns]
        answer = await self._run("sweep", keys, [len(tenants), *tenants, *campaigns])
        return tenants, campaigns, answer

    async def server_problems(self) -> list[str]:
        """What in the server's configuration breaks the guarantees (check it at start). A
        server that evicts keys under memory pressure could drop a lease or a number lock."""
        try:
            async with answering("config"):
                answer = await self._client.config_get("maxmemory-policy")
        except ResponseError:  # CONFIG is often disabled on managed servers: cannot tell
            return []
        policy = answer.get("maxmemory-policy")
        if policy not in {None, "noeviction"}:
            return [f"maxmemory-policy is {policy}: admission needs noeviction"]
        return []

    async def server_time(self) -> float:
        """The Redis server's clock, in seconds since the epoch: the clock of every lease."""
        async with answering("time"):
            seconds, micros = await self._client.time()
        return seconds + micros / US

    async def ping(self) -> None:
        await self.server_time()

    # ------------------------------------------------------------ reconciling

    async def needs_rebuild(self) -> bool:
        async with answering("epoch"):
            return not await self._client.exists(self._keys.epoch)

    async def rebuild(self, leases: Sequence[Lease]) -> bool:
        """Chunks of leases under the rebuild lock; the last chunk sets the epoch. A second
        rebuilder is refused while the lock is held and finds nothing to do afterwards; the
        leases are the store's, read while acquires were refused, so either copy is right."""
        if not await self.needs_rebuild():
            return False
        token = uuid.uuid4().hex
        chunks = _chunks(leases, RESTORE_CHUNK) or [[]]
        for index, chunk in enumerate(chunks):
            commit = index == len(chunks) - 1
            if await self._restore("rebuild", chunk, token, commit=commit) < 0:
                return False
        return True

    async def restore(self, leases: Sequence[Lease]) -> int:
        added = 0
        for chunk in _chunks(leases, RESTORE_CHUNK):
            count = await self._restore("restore", chunk, "", commit=False)
            if count < 0:
                break
            added += count
        return added

    async def _restore(self, mode: str, leases: Sequence[Lease], token: str, commit: bool) -> int:
        keys = [self._keys.epoch, self._keys.rebuild, self._keys.global_cap, self._keys.meta]
        keys += [self._keys.gone, self._keys.tenants, self._keys.campaigns]
        keys += itertools.chain.from_iterable(self._keys.of_lease(lease) for lease in leases)
        args: list[Arg] = [mode, token, REBUILD_LOCK_MS, int(commit)]
        args += itertools.chain.from_iterable(_lease_args(lease) for lease in leases)
        return int(await self._run("restore", keys, args))

    async def prune(self, keep: Collection[str], grace: float) -> int:
        """Not on the hot path: sweeps, then reads every lease's meta (HSCAN)."""
        _, _, answer = await self._sweep()
        cutoff = int(answer[0]) - _us(grace)
        stale = [lease for lease, acquired in await self._held() if acquired < cutoff]
        stale = [lease for lease in stale if lease.id not in keep]
        dropped = 0
        for chunk in _chunks(stale, RELEASE_CHUNK):
            dropped += sum((await self._release(chunk))[1])
        return dropped

    async def _held(self) -> list[tuple[Lease, int]]:
        """Every held lease (expiry unknown: 0) with when it was acquired (microseconds)."""
        held: dict[str, tuple[Lease, int]] = {}
        async with answering("scan"):
            async for lease_id, meta in self._client.hscan_iter(self._keys.meta, count=1000):
                tenant_id, campaign_id, phone, acquired = meta.split("\t")
                lease = Lease(lease_id, int(tenant_id), int(campaign_id), phone, 0.0)
                held[lease_id] = (lease, int(acquired))
        return list(held.values())


def _result(scope: Scope, request: tuple[str, str], code: str, value: int) -> AdmissionResult:
    lease_id, phone = request
    if code == "ok":
        lease = Lease(lease_id, scope.tenant_id, scope.campaign_id, phone, value / US)
        return AdmissionResult(True, lease=lease)
    retry_after = value / US if value >= 0 else None
    # A code that is no Limit ("not_ready": the state is being rebuilt) refuses with None.
    return AdmissionResult(False, refused_by=_LIMITS.get(code), retry_after=retry_after)


def _texts(values: Collection[bytes | str]) -> list[str]:
    return sorted(v if isinstance(v, str) else v.decode() for v in values)


def _nonzero(ids: Sequence[str], counts: Sequence[int]) -> dict[int, int]:
    return {int(i): n for i, n in zip(ids, counts, strict=True) if n > 0}


def _chunks(leases: Sequence[Lease], size: int) -> list[Sequence[Lease]]:
    return [leases[start : start + size] for start in range(0, len(leases), size)]

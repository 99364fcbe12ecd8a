"""The provider guard's state shared through Redis: every dispatcher and worker sees one
breaker and one paced rate per provider account, so one process's evidence of a failing
provider protects all of them, and the half-open probes are counted once for all.

Every operation is one Lua script (``lua/prelude.lua`` followed by ``lua/<name>.lua``), run by
SHA on the server's clock (TIME). Keys, under the admission's hash tag ``{namespace}``:

    guard:<account>:breaker   hash: state, opened_at, times_opened, probes
    guard:<account>:window    hash: one-second buckets of outcomes (calls, failures)
    guard:<account>:pacing    hash: the paced rate and its token bucket

A Redis failure never stops calls: the operation is decided by this process's own state
(``LocalGuardState``), the failure is logged, and Redis is tried again after
``retry_seconds``. The local state only holds what this process saw meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from dialer.adapters.guard.memory import LocalGuardState
from dialer.domain.aimd import AimdPolicy
from dialer.domain.breaker import BreakerPolicy, BreakerSnapshot, BreakerState
from dialer.ports import CreateOutcome, GuardView

log = logging.getLogger(__name__)

SCRIPTS = ("room", "started", "try_start", "abandon", "record")
IDLE_MS = 24 * 3600 * 1000  # state untouched for a day is let go (a fresh guard again)
T = TypeVar("T")


class _Scripts:
    """The guard's Lua scripts, each the prelude and its own body, run by SHA."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        folder = resources.files("dialer.adapters.guard") / "lua"
        prelude = (folder / "prelude.lua").read_text()
        self.source = {name: prelude + (folder / f"{name}.lua").read_text() for name in SCRIPTS}
        self.sha = {
            name: hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
            for name, text in self.source.items()
        }

    async def run(self, name: str, keys: list[str], args: list[str | int | float]) -> Any:
        try:
            return await self._client.evalsha(self.sha[name], len(keys), *keys, *args)
        except NoScriptError:
            await self._client.script_load(self.source[name])
            return await self._client.evalsha(self.sha[name], len(keys), *keys, *args)


def _policy_args(breaker: BreakerPolicy, pacing: AimdPolicy) -> list[str | int | float]:
    return [
        breaker.failure_ratio,
        breaker.window_seconds,
        breaker.min_calls,
        breaker.open_seconds,
        breaker.probes,
        pacing.ceiling,
        pacing.floor,
        pacing.decrease,
        pacing.step,
        pacing.cooldown_seconds,
        IDLE_MS,
    ]


def _view(answer: list[Any], breaker: BreakerPolicy, pacing: AimdPolicy) -> GuardView:
    _, state, opened, times_opened, calls, failures, rate, decreases = answer
    opened_at = float(opened) if opened else None
    breaker_state = BreakerState(state)
    retry_at = None
    if breaker_state is BreakerState.OPEN and opened_at is not None:
        retry_at = opened_at + breaker.open_seconds
    snapshot = BreakerSnapshot(
        breaker_state, int(calls), int(failures), opened_at, retry_at, int(times_opened)
    )
    return GuardView(snapshot, float(rate), pacing.ceiling, int(decreases))


class RedisGuardState:
    def __init__(
        self,
        client: Redis,
        account: str,
        fallback: LocalGuardState,
        *,
        namespace: str = "dialer",
        breaker: BreakerPolicy | None = None,
        pacing: AimdPolicy | None = None,
        retry_seconds: float = 5.0,
    ) -> None:
        """``client`` must decode responses. Processes sharing a provider account's guard
        use the same ``namespace`` and ``account``."""
        self._client = client
        self._fallback = fallback
        self._breaker = breaker or BreakerPolicy()
        self._pacing = pacing or AimdPolicy()
        prefix = f"{{{namespace}}}:guard:{account}:"
        self._keys = [f"{prefix}breaker", f"{prefix}window", f"{prefix}pacing"]
        self._args = _policy_args(self._breaker, self._pacing)
        self._scripts = _Scripts(client)
        self._retry_seconds = retry_seconds
        self._down_until: float | None = None  # monotonic time to try Redis again
        self._view: GuardView | None = None
        self._owned_pool: BlockingConnectionPool | None = None

    @classmethod
    def from_url(
        cls, url: str, account: str, fallback: LocalGuardState, *, timeout: float = 1.0, **kw: Any
    ) -> RedisGuardState:
        """A backend with its own small pool. The timeout is short: a slow Redis must not
        hold up creates (the local state decides meanwhile); scripts are never retried."""
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=16,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
        )
        state = cls(Redis(connection_pool=pool), account, fallback, **kw)
        state._owned_pool = pool
        return state

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._owned_pool is not None:
            await self._owned_pool.aclose()

    # ------------------------------------------------------------ the port

    async def room(self) -> int:
        return int(await self._run("room", "", self._fallback.room))

    async def started(self, count: int) -> None:
        if count:
            await self._run("started", count, lambda: self._fallback.started(count))

    async def try_start(self) -> bool:
        return bool(await self._run("try_start", "", self._fallback.try_start))

    async def abandon(self) -> None:
        await self._run("abandon", "", self._fallback.abandon)

    async def record(self, outcome: CreateOutcome) -> None:
        await self._run("record", outcome.value, lambda: self._fallback.record(outcome))

    def view(self) -> GuardView:
        if self._view is None or self._down_until is not None:
            return self._fallback.view()
        return self._view

    # ------------------------------------------------------------ Redis, or the fallback

    async def _run(
        self, name: str, argument: str | int, fallback: Callable[[], Awaitable[T]]
    ) -> Any:
        if self._down_until is not None and time.monotonic() < self._down_until:
            return await fallback()
        try:
            answer = await self._scripts.run(name, self._keys, [*self._args, argument])
        except (RedisError, OSError) as exc:
            self._went_down(name, exc)
            return await fallback()
        self._came_back()
        self._view = _view(answer, self._breaker, self._pacing)
        return answer[0]

    def _went_down(self, name: str, exc: BaseException) -> None:
        if self._down_until is None:
            log.warning(
                "provider guard: Redis failed (%s: %s); this process's own breaker and pacing "
                "decide until it answers again",
                name,
                exc,
            )
        self._down_until = time.monotonic() + self._retry_seconds

    def _came_back(self) -> None:
        if self._down_until is not None:
            log.warning("provider guard: Redis answers again; the shared state decides")
            self._down_until = None

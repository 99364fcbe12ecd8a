"""``dialer serve``: the REST API, the webhooks and the engine's loops in one process.

One runtime, one event loop: uvicorn serves the app on DIALER_LISTEN while the dispatcher,
the reaper and the reconciler run beside it (the embedded default). With ``api_only`` the
loops are left to dispatchers running elsewhere; the API's own housekeeping still runs. Either
way the process beats (kind ``serve``), so ``dialer nodes`` lists it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import uvicorn
from fastapi import FastAPI

from dialer.api.app import create_app
from dialer.api.dashboard import close_streams
from dialer.api.dashboard.sessions import prune_sessions
from dialer.bootstrap import Runtime, open_runtime
from dialer.services import adhoc_calls, idempotency
from dialer.services.heartbeat import CAPACITY_IN_USE, Heartbeat
from dialer.services.loops import run_forever
from dialer.services.provider_prices import PricePolicy, fetch_provider_prices
from dialer.settings import Settings

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 2.0
PRUNE_EVERY = timedelta(hours=1)
PRICES = PricePolicy(every=60.0)
PRICES_BATCH = 200
NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class Loops:
    """The engine's periodic work, each loop under ``run_forever``: a failing tick is logged
    and backed off, and the loop goes on; one bad moment (a database restart) must not take
    the API down with it."""

    runtime: Runtime
    heartbeat: Heartbeat
    _pruned_at: datetime = NEVER

    async def _dispatch(self) -> float:
        settings = self.runtime.settings
        report = await self.runtime.dispatcher.run_once()
        self.heartbeat.count(processed=report.originated)
        return 0.0 if report.originated >= settings.dispatch_batch_size else settings.tick_seconds

    async def _beat(self) -> float:
        """Beat like the distributed processes, so ``dialer nodes`` lists this one. With
        in-process admission nobody else can read our leases: the beat reports them."""
        if self.runtime.settings.redis_url is None:
            usage = await self.runtime.services.admission.usage()
            self.heartbeat.info[CAPACITY_IN_USE] = usage.global_active
        await self.heartbeat.beat(self.runtime.store)
        return self.heartbeat.interval

    async def _reap(self) -> float:
        await self.runtime.reaper.run_once()
        return self.runtime.settings.reaper_seconds

    async def _reconcile(self) -> float:
        await self.runtime.reconciler.run_once()
        return self.runtime.settings.reconcile_seconds

    async def _prices(self) -> float:
        """The provider's price of calls ended a few minutes ago (housekeeping's pass, which
        ``dialer beat`` runs when the loops run elsewhere)."""
        await fetch_provider_prices(self.runtime.services, PRICES_BATCH, PRICES)
        return PRICES.every

    async def _housekeeping(self) -> float:
        services = self.runtime.services
        if await adhoc_calls.reopen_stranded(services):
            log.info("reopened API queues that had calls waiting")
        now = services.clock.now()
        if now - self._pruned_at >= PRUNE_EVERY:
            hours = self.runtime.settings.api_idempotency_hours
            await idempotency.prune(services.store, now, hours)
            await prune_sessions(services.store, now)  # idle, or of a revoked key
            self._pruned_at = now
        return HOUSEKEEPING_SECONDS

    def start(self, api_only: bool) -> list[asyncio.Task[None]]:
        work = {"housekeeping": self._housekeeping, "heartbeat": self._beat}
        if not api_only:
            work |= {"dispatcher": self._dispatch, "reaper": self._reap}
            work |= {"reconciler": self._reconcile, "prices": self._prices}
            if self.runtime.webhooks is not None:
                work |= {"webhooks": self.runtime.webhooks.tick}
        return [asyncio.create_task(run_forever(n, t), name=n) for n, t in work.items()]


class _Server(uvicorn.Server):
    """uvicorn's server, minus its signal handling: uvicorn re-raises SIGTERM after its own
    shutdown, which would kill the process before the loops stop and the runtime closes.
    ``serve`` handles the signals itself instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _stop_on_signals(server: uvicorn.Server, app: FastAPI) -> None:
    loop = asyncio.get_running_loop()

    def stop() -> None:
        server.should_exit = True
        close_streams(app)  # uvicorn waits for open responses: end the dashboard's streams

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


async def _bound_port(server: uvicorn.Server, task: asyncio.Task[None]) -> int:
    while not server.started:
        if task.done():
            task.result()  # surfaces the bind error
            raise RuntimeError("the HTTP listener did not start")
        await asyncio.sleep(0.01)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


async def serve(
    settings: Settings, *, api_only: bool = False, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve until SIGINT or SIGTERM; then stop the loops and let in-flight sends finish."""
    async with open_runtime(settings) as runtime:
        app = create_app(runtime)
        config = uvicorn.Config(
            app,
            host=settings.listen_host,
            port=settings.listen_port,
            log_config=None,  # records go to the root logger: JSON lines
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = _Server(config)
        _stop_on_signals(server, app)
        serving = asyncio.create_task(server.serve())
        port = await _bound_port(server, serving)
        url = f"http://{settings.listen_host}:{port}"
        if settings.public_base_url is None:
            runtime.services.webhook_base = url
        heartbeat = Heartbeat("serve", f"serve@{socket.gethostname()}", settings.heartbeat_seconds)
        loops = Loops(runtime, heartbeat).start(api_only)
        if on_ready is not None:
            on_ready(url)
        try:
            await serving
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await runtime.dispatcher.wait_messages()  # sends in flight finish before we close
            if runtime.webhooks is not None:
                await runtime.webhooks.wait_idle()
            await runtime.executor.drain()

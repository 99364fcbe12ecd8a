"""Running a campaign to its end in this process: the embedded default.

The webhook listener, the pacing loop and the reaper share one event loop; originations run
inline. The same services run under Celery workers and separate dispatchers in production.
Calls accepted but never heard of (callbacks that cannot reach us) are warned about and
looked up at the provider: see ``dialer.services.callback_watch``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import uvicorn

from dialer.api.app import create_app
from dialer.bootstrap import Runtime
from dialer.domain.statuses import TERMINAL_CAMPAIGN, CampaignStatus
from dialer.errors import Unavailable
from dialer.services.callback_watch import CallbackWatch
from dialer.services.campaigns import start_campaign
from dialer.services.loops import Sleep, Tick, run_forever
from dialer.services.progress import Progress, campaign_progress

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 0.25
WATCH_PASSES_PER_SILENCE = 3  # unheard calls are noticed within 4/3 of the silence allowed


@contextlib.asynccontextmanager
async def webhook_listener(runtime: Runtime, host: str, port: int) -> AsyncIterator[int]:
    """Serve the webhook app on host:port (0 picks a free port); yields the bound port."""
    config = uvicorn.Config(
        create_app(runtime),
        host=host,
        port=port,
        log_config=None,  # records go to the root logger: JSON lines
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # surfaces the bind error
            raise RuntimeError(f"the webhook listener on {host}:{port} did not start")
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


@dataclass
class _Loops:
    """The campaign's loops, each under ``run_forever`` until ``done`` is set. A dependency
    that does not answer (``Unavailable``) is waited out like anywhere else; any other error
    is a bug the operator should see, so it ends the run."""

    runtime: Runtime
    campaign_id: int
    done: asyncio.Event

    async def _forever(
        self, name: str, tick: Tick, sleep: Sleep = asyncio.sleep, first: float = 0.0
    ) -> None:
        """``first``: the pause before the first tick."""
        await run_forever(name, tick, _stop_on_bugs, sleep=sleep, stop=self.done, start_after=first)

    async def dispatch(self) -> None:
        await self._forever("dispatcher", self._dispatch)

    async def _dispatch(self) -> float:
        settings = self.runtime.settings
        report = await self.runtime.dispatcher.run_once()
        if self.campaign_id in report.completed_campaigns:
            self.done.set()
        return 0.0 if report.originated >= settings.dispatch_batch_size else settings.tick_seconds

    async def reap(self) -> None:
        seconds = self.runtime.settings.reaper_seconds
        await self._forever("reaper", self._reap, self.runtime.services.clock.sleep, seconds)

    async def _reap(self) -> float:
        await self.runtime.reaper.run_once()
        return self.runtime.settings.reaper_seconds

    async def reconcile(self) -> None:
        """Drop leases whose call has ended, restore those missing, rebuild after a loss."""
        seconds = self.runtime.settings.reconcile_seconds
        await self._forever("reconciler", self._reconcile, first=seconds)

    async def _reconcile(self) -> float:
        await self.runtime.reconciler.run_once()
        return self.runtime.settings.reconcile_seconds

    async def deliver_webhooks(self) -> None:
        """Send the outbox to tenants' webhook endpoints while the campaign runs."""
        if self.runtime.webhooks is not None:
            await self._forever("webhooks", self.runtime.webhooks.tick)

    async def watch_callbacks(self, on_warning: Callable[[str | None], None] | None) -> None:
        """Warn when accepted calls go unheard, and settle them by lookup meanwhile."""
        watch = CallbackWatch(
            self.runtime.services,
            self.runtime.callbacks,
            self.campaign_id,
            self.runtime.settings.callback_silence_seconds,
        )
        seconds = watch.silence / WATCH_PASSES_PER_SILENCE

        async def watch_once() -> float:
            await watch.run_once()
            if on_warning is not None:
                on_warning(watch.warning)
            return seconds

        sleep = self.runtime.services.clock.sleep
        await self._forever("callback watch", watch_once, sleep, seconds)

    async def watch(self, on_progress: Callable[[Progress], None] | None) -> None:
        async def watch_once() -> float:
            progress = await _progress(self.runtime, self.campaign_id)
            if on_progress is not None:
                on_progress(progress)
            if progress.status in TERMINAL_CAMPAIGN:
                self.done.set()
            return PROGRESS_SECONDS

        await self._forever("progress", watch_once)


def _stop_on_bugs(exc: Exception) -> None:
    """A dependency that does not answer is waited out; anything else ends the run."""
    if not isinstance(exc, Unavailable):
        raise exc


async def _progress(runtime: Runtime, campaign_id: int) -> Progress:
    services = runtime.services
    return await campaign_progress(
        runtime.store, campaign_id, services.clock.now(), services.limits
    )


async def _until_done(loops: _Loops, work: list[Coroutine[Any, Any, None]]) -> None:
    """Run the loops until the campaign ends; the first loop to fail stops them all."""
    tasks = [asyncio.create_task(coroutine) for coroutine in work]
    finished = asyncio.create_task(loops.done.wait())
    try:
        await asyncio.wait([finished, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [finished, *tasks]:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await loops.runtime.dispatcher.wait_messages()  # a message tick may still be running
    for result in results:
        if isinstance(result, Exception):
            raise result


async def _last_webhooks(runtime: Runtime) -> None:
    """Settle the deliveries in flight, then send what the run's end left due, once: what
    fails waits in the outbox for the next process (with a database that keeps it)."""
    if runtime.webhooks is not None:
        await runtime.webhooks.wait_idle()
        await runtime.webhooks.run_once()


async def run_to_end(
    runtime: Runtime,
    campaign_id: int,
    on_progress: Callable[[Progress], None] | None = None,
    on_warning: Callable[[str | None], None] | None = None,
) -> Progress:
    """Start the campaign (if it is a draft) and run it until it completes or is cancelled.
    ``on_warning`` is told of a warning for the operator (None once it no longer holds)."""
    async with runtime.store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
    if campaign.status in {CampaignStatus.DRAFT, CampaignStatus.PAUSED}:
        await start_campaign(runtime.services, campaign_id)
    loops = _Loops(runtime, campaign_id, asyncio.Event())
    work = [loops.dispatch(), loops.reap(), loops.reconcile(), loops.watch(on_progress)]
    work.append(loops.deliver_webhooks())
    await _until_done(loops, [*work, loops.watch_callbacks(on_warning)])
    await runtime.executor.drain()
    await _last_webhooks(runtime)
    final = await _progress(runtime, campaign_id)
    if on_progress is not None:
        on_progress(final)
    return final

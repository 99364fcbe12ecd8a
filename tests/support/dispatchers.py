"""A dispatcher process for the end-to-end test: the production services (store on
PostgreSQL, Twilio-compatible telephony against the simulator, webhook listener, dispatcher,
reaper, reconciler) with admission on Redis. Started with the spawn method."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from dialer.adapters.admission.budget_redis import RedisBudgetLedger
from dialer.adapters.admission.redis import RedisAdmission
from dialer.bootstrap import Runtime, open_runtime
from dialer.runner import webhook_listener
from dialer.services.reconciler import Reconciler
from dialer.settings import load_settings
from dialer.simulator.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

RECONCILE_SECONDS = 1.0
REAP_SECONDS = 2.0
RECONCILE_GRACE = 10.0


@dataclass(frozen=True)
class DispatcherJob:
    number: int
    database_url: str
    redis_url: str
    namespace: str
    sim_url: str
    global_max: int
    max_seconds: float
    stop: Any  # a multiprocessing Event: stop dispatching, drain, exit
    queue: Any  # a multiprocessing Queue: ("ready", n), then ("done", n, totals)


def settings_for(database_url: str, sim_url: str, global_max: int) -> Any:
    return load_settings(
        database_url=database_url,
        twilio_api_base=sim_url,
        twilio_account_sid=DEFAULT_ACCOUNT_SID,
        twilio_auth_token=DEFAULT_AUTH_TOKEN,
        listen="127.0.0.1:0",
        global_max_concurrency=global_max,
        campaign_max_concurrency=global_max,
        tick_seconds=0.02,
    )


def run_dispatcher(job: DispatcherJob) -> None:
    asyncio.run(_run(job))


async def _run(job: DispatcherJob) -> None:
    settings = settings_for(job.database_url, job.sim_url, job.global_max)
    admission = RedisAdmission.from_url(job.redis_url, namespace=job.namespace)
    try:
        async with (
            open_runtime(settings) as runtime,
            webhook_listener(runtime, "127.0.0.1", 0) as port,
        ):
            # What bootstrap.build_admission will do once DIALER_REDIS_URL is wired.
            runtime.services.admission = admission
            runtime.services.budgets = RedisBudgetLedger(admission.client, namespace=job.namespace)
            runtime.services.webhook_base = f"http://127.0.0.1:{port}"
            totals = await _serve(job, runtime)
            await runtime.executor.drain()
    finally:
        await admission.aclose()
    job.queue.put(("done", job.number, dict(totals)))


async def _serve(job: DispatcherJob, runtime: Runtime) -> Counter[str]:
    reconciler = Reconciler(runtime.services, grace=RECONCILE_GRACE)
    for _ in range(200):  # another dispatcher may be rebuilding: wait for it, bounded
        if not (await reconciler.run_once()).waiting:
            break
        await asyncio.sleep(0.05)
    job.queue.put(("ready", job.number))
    totals: Counter[str] = Counter()
    started = last_reconcile = last_reap = time.monotonic()
    while not job.stop.is_set() and time.monotonic() - started < job.max_seconds:
        report = await runtime.dispatcher.run_once()
        totals["originated"] += report.originated
        totals.update({str(reason): n for reason, n in report.refused.items()})
        now = time.monotonic()
        if now - last_reconcile > RECONCILE_SECONDS:
            result = await reconciler.run_once()
            totals["pruned"] += result.pruned
            totals["restored"] += result.restored
            last_reconcile = now
        if now - last_reap > REAP_SECONDS:
            totals["reaped"] += await runtime.reaper.run_once()
            last_reap = now
        await asyncio.sleep(runtime.settings.tick_seconds)
    return totals

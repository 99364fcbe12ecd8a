"""The one composition root: builds every adapter from settings. Nothing connects at import.

The providers' adapters are built in ``bootstrap.providers``; a Celery worker's runtime in
``bootstrap.worker``."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from dialer.adapters.admission.budget_memory import MemoryBudgetLedger
from dialer.adapters.admission.budget_redis import RedisBudgetLedger
from dialer.adapters.admission.memory import MemoryAdmission
from dialer.adapters.admission.redis import RedisAdmission
from dialer.adapters.clock import WallClock
from dialer.adapters.executor.inline import InlineExecutor
from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.memory import MemoryStore
from dialer.adapters.store.sql import SqlStore
from dialer.adapters.store.transient import is_transient
from dialer.adapters.telephony.inbound import RequestVerifier
from dialer.bootstrap.providers import build_email, build_guard, build_sms, build_telephony
from dialer.bootstrap.webhooks import build_deliverer, build_hook_sender, url_rules
from dialer.domain.safety import NumberPolicy
from dialer.errors import DialerError, InvalidInput, Problem, Unavailable
from dialer.ports import Admission, Clock, Executor, Store, WebhookVerifier
from dialer.ports.budget import BudgetLedger
from dialer.services.batches import JobPolicy, originate_now, record_failures, run_origination
from dialer.services.callback_watch import CallbackPulse
from dialer.services.context import Limits, Services
from dialer.services.dispatch import Dispatcher
from dialer.services.provider_guard import GuardedTelephony, ProviderGuard
from dialer.services.reaper import Reaper
from dialer.services.reconciler import Reconciler
from dialer.services.retrying import OwnCallsOnly
from dialer.services.webhook_delivery import WebhookDeliverer
from dialer.services.webhook_endpoints import UrlRules
from dialer.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
STARTUP_FIRST_DELAY = 0.5  # seconds before the second try; doubled up to STARTUP_MAX_DELAY
STARTUP_MAX_DELAY = 8.0


@dataclass
class Runtime:
    settings: Settings
    services: Services
    store: Store
    executor: Executor  # inline, or Celery when DIALER_BROKER_URL is set
    dispatcher: Dispatcher
    reaper: Reaper
    reconciler: Reconciler
    verifier: WebhookVerifier | RequestVerifier  # Plivo and Telnyx check whole requests
    guard: ProviderGuard | None = None  # the provider's circuit breaker and pacing
    callbacks: CallbackPulse = field(default_factory=CallbackPulse)  # heard by our webhooks
    webhooks: WebhookDeliverer | None = None  # delivers the outbox to tenants' endpoints
    webhook_rules: UrlRules = field(default_factory=UrlRules)


async def build_admission(settings: Settings, clock: Clock) -> Admission:
    """Redis when DIALER_REDIS_URL is set (shared by every process), else in-process.

    Both start "not ready": no call is admitted until the reconciler has rebuilt the state
    from the store's live attempts, so a restart never forgets calls still in flight."""
    if not settings.redis_url:
        return MemoryAdmission(lambda: clock.now().timestamp(), ready=False)
    if not isinstance(clock, WallClock):
        raise InvalidInput(
            Problem(
                "DIALER_REDIS_URL",
                "Redis admission runs on real time; simulated time needs the in-process backend",
            )
        )
    admission = RedisAdmission.from_url(settings.redis_url, namespace=settings.redis_namespace)
    try:
        problems = await admission.server_problems()
    except BaseException:
        await admission.aclose()
        raise
    if problems:
        await admission.aclose()
        raise InvalidInput([Problem("DIALER_REDIS_URL", p) for p in problems])
    return admission


def build_budget_ledger(settings: Settings, admission: Admission, clock: Clock) -> BudgetLedger:
    """Beside admission: on its Redis (shared by every dispatcher), else in this process."""
    if isinstance(admission, RedisAdmission):
        return RedisBudgetLedger(admission.client, namespace=settings.redis_namespace)
    return MemoryBudgetLedger(lambda: clock.now().timestamp())


async def when_available(
    settings: Settings, what: str, step: Callable[[], Awaitable[T]], sleep: Sleep = asyncio.sleep
) -> T:
    """Run a start-up ``step`` that needs a dependency (Redis, the database server), trying
    again with back-off while the dependency does not answer, for at most
    DIALER_STARTUP_WAIT_SECONDS: a process started a moment before Redis or PostgreSQL (a
    reboot, a rolling restart without a supervisor) comes up with them instead of exiting."""
    deadline = time.monotonic() + settings.startup_wait_seconds
    delay = STARTUP_FIRST_DELAY
    while True:
        try:
            return await step()
        except (Unavailable, OSError) as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(
                    f"{what} did not answer within DIALER_STARTUP_WAIT_SECONDS="
                    f"{settings.startup_wait_seconds:g}: {exc}"
                ) from exc
            delay = min(delay, left)
            log.warning("%s not answering (%s); trying again in %.1f s", what, exc, delay)
            await sleep(delay)
            delay = min(delay * 2, STARTUP_MAX_DELAY)


async def reconcile_at_start(services: Services, attempts: int = 50) -> None:
    """Rebuild admission state before the first call; wait while another process does."""
    reconciler = Reconciler(services)
    for _ in range(attempts):
        if not (await reconciler.run_once()).waiting:
            return
        await asyncio.sleep(0.2)
    raise DialerError("admission state is still being rebuilt by another process; try again")


def _reaper_unsent_grace(settings: Settings) -> float | None:
    """Inline execution sends only from the process that admitted the call, and has no
    housekeeping: its reaper withdraws what a stopped run left unsent, after the same grace."""
    return None if settings.broker_url else settings.unsent_grace_seconds


def number_policy(settings: Settings) -> NumberPolicy:
    return NumberPolicy(
        settings.number_max_attempts,
        settings.number_window_seconds,
        settings.conversation_cooldown_seconds,
    )


MEMORY_URL = "memory://"


def build_store(database_url: str) -> SqlStore | MemoryStore:
    """The store DIALER_DATABASE_URL names: ``memory://`` keeps every table in this process
    (nothing outlives it: a demo, a trial run); else a SQLite file or PostgreSQL."""
    if database_url == MEMORY_URL:
        return MemoryStore()
    return SqlStore(make_engine(database_url))


def refuse_shared_memory(settings: Settings) -> None:
    """The memory store is one process's: workers behind a broker would each see their own."""
    if settings.database_url == MEMORY_URL and settings.broker_url:
        raise InvalidInput(
            Problem(
                "DIALER_DATABASE_URL",
                "memory:// keeps the data in this one process; with DIALER_BROKER_URL the "
                "workers need a database they share (PostgreSQL)",
            )
        )


async def prepare_store(store: SqlStore | MemoryStore) -> None:
    """Bring the database's schema to the head migration; memory has no schema to migrate."""
    if isinstance(store, SqlStore):
        await migrate.upgrade(store.engine)


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[SqlStore | MemoryStore]:
    """The store alone, migrated: for commands that manage data and place no calls."""
    store = build_store(settings.database_url)
    try:
        await prepare_store(store)
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    seed: int | None = None,
) -> AsyncIterator[Runtime]:
    """Migrate the database, build every adapter, and close them all on the way out."""
    clock = clock or WallClock()
    refuse_shared_memory(settings)
    store = build_store(settings.database_url)
    telephony, verifier = build_telephony(settings)
    guard = build_guard(settings, clock)
    telephony = GuardedTelephony(telephony, guard)
    admission: Admission | None = None
    executor: Executor | None = None
    deliverer: WebhookDeliverer | None = None
    runtime: Runtime | None = None
    sms, email = build_sms(settings), build_email(settings)
    hooks = build_hook_sender(settings)
    try:
        await when_available(settings, "the database", partial(prepare_store, store))
        admission = await when_available(
            settings, "admission (DIALER_REDIS_URL)", partial(build_admission, settings, clock)
        )
        services = Services(
            store=store,
            admission=admission,
            # A lookup never hands an attempt another attempt's call (a quick retry to the
            # same number would otherwise find the previous call and adopt it).
            telephony=OwnCallsOnly(telephony, store),
            clock=clock,
            limits=Limits(
                settings.global_max_concurrency,
                settings.lease_ttl_seconds,
                number_policy=number_policy(settings),
                global_rates=settings.global_rates,
                campaign_max=settings.campaign_max_concurrency,
                allow_private_answer_urls=settings.allow_private_answer_urls,
                channel_rates=settings.channel_rates,
            ),
            webhook_base=settings.webhook_base,
            rng=random.Random(seed),
            allow_vanity_numbers=settings.allow_vanity_numbers,
            sms=sms,
            email=email,
            hooks=hooks,
            budgets=build_budget_ledger(settings, admission, clock),
        )
        await when_available(
            settings, "admission (DIALER_REDIS_URL)", partial(reconcile_at_start, services)
        )
        executor = build_executor(settings, services)
        deliverer = build_deliverer(settings, services)
        runtime = Runtime(
            settings=settings,
            services=services,
            store=store,
            executor=executor,
            dispatcher=Dispatcher(
                services,
                executor,
                settings.dispatch_batch_size,
                guard=guard,
                max_unsent=settings.dispatch_max_unsent,
            ),
            reaper=Reaper(services, unsent_grace=_reaper_unsent_grace(settings)),
            reconciler=Reconciler(services),
            verifier=verifier,
            guard=guard,
            webhooks=deliverer,
            webhook_rules=url_rules(settings),
        )
        yield runtime
    finally:
        if runtime is not None:  # a message tick or send may still hold a connection
            await runtime.dispatcher.wait_messages()
        close_executor(executor)
        if deliverer is not None:
            await deliverer.aclose()
        if isinstance(admission, RedisAdmission):
            await admission.aclose()
        await telephony.aclose()
        for sender in (sms, email, hooks):
            if sender is not None:
                await sender.aclose()
        await store.close()


# ---------------------------------------------------------------- distributed execution


def job_policy(settings: Settings) -> JobPolicy:
    """How a job is run, inline or by a worker: again after a transient database error."""
    return JobPolicy(
        retries=settings.job_retries,
        backoff=settings.job_retry_backoff_seconds,
        in_flight=settings.worker_in_flight,
        transient=is_transient,
    )


def build_executor(settings: Settings, services: Services) -> Executor:
    """Celery when DIALER_BROKER_URL is set (workers send the calls), else inline."""
    if not settings.broker_url:
        return InlineExecutor(
            partial(run_origination, services, policy=job_policy(settings), run=originate_now),
            partial(record_failures, services),
            settings.max_in_flight_requests,
        )
    # Imported here, so that only deployments with a broker load Celery.
    from dialer.adapters.executor.celery_app import make_celery_app
    from dialer.adapters.executor.celery_executor import CeleryExecutor
    from dialer.services.batches import withdraw_all

    withdraw = partial(withdraw_all, services)
    return CeleryExecutor(make_celery_app(settings), settings, services.store, withdraw)


def close_executor(executor: Executor | None) -> None:
    close = getattr(executor, "close", None)  # the Celery executor holds a broker connection
    if callable(close):
        close()

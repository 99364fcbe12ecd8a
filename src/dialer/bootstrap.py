"""The one composition root: builds every adapter from settings. Nothing connects at import."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from dialer.adapters.admission.memory import MemoryAdmission
from dialer.adapters.clock import WallClock
from dialer.adapters.executor.inline import InlineExecutor
from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.sql import SqlStore
from dialer.adapters.telephony.twilio import TwilioTelephony
from dialer.adapters.telephony.twilio_signature import TwilioWebhookVerifier
from dialer.domain.safety import NumberPolicy
from dialer.errors import InvalidInput, Problem
from dialer.ports import Admission, Clock, Telephony, WebhookVerifier
from dialer.services.calls import originate
from dialer.services.context import Limits, Services
from dialer.services.dispatch import Dispatcher
from dialer.services.reaper import Reaper
from dialer.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    services: Services
    store: SqlStore
    executor: InlineExecutor
    dispatcher: Dispatcher
    reaper: Reaper
    verifier: WebhookVerifier


def twilio_credentials(settings: Settings) -> tuple[str, str]:
    problems = []
    if not settings.twilio_account_sid:
        problems.append(Problem("TWILIO_ACCOUNT_SID", "required for DIALER_PROVIDER=twilio"))
    if settings.twilio_auth_token is None or not settings.twilio_auth_token.get_secret_value():
        problems.append(Problem("TWILIO_AUTH_TOKEN", "required for DIALER_PROVIDER=twilio"))
    if problems:
        raise InvalidInput(problems)
    sid, token = settings.twilio_account_sid or "", settings.twilio_auth_token
    return sid, token.get_secret_value() if token else ""


def build_telephony(settings: Settings) -> tuple[Telephony, WebhookVerifier]:
    sid, token = twilio_credentials(settings)
    telephony = TwilioTelephony(
        settings.twilio_api_base,
        sid,
        token,
        timeout=settings.provider_timeout_seconds,
        max_connections=settings.max_in_flight_requests,
    )
    return telephony, TwilioWebhookVerifier(token)


def build_admission(settings: Settings, clock: Clock) -> Admission:
    if settings.redis_url:
        raise InvalidInput(
            Problem(
                "DIALER_REDIS_URL", "the Redis admission backend is not available in this build"
            )
        )
    return MemoryAdmission(lambda: clock.now().timestamp())


def number_policy(settings: Settings) -> NumberPolicy:
    return NumberPolicy(
        settings.number_max_attempts,
        settings.number_window_seconds,
        settings.conversation_cooldown_seconds,
    )


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[SqlStore]:
    """The store alone, migrated: for commands that manage data and place no calls."""
    store = SqlStore(make_engine(settings.database_url))
    try:
        await migrate.upgrade(store.engine)
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
    store = SqlStore(make_engine(settings.database_url))
    telephony, verifier = build_telephony(settings)
    try:
        await migrate.upgrade(store.engine)
        services = Services(
            store=store,
            admission=build_admission(settings, clock),
            telephony=telephony,
            clock=clock,
            limits=Limits(
                settings.global_max_concurrency,
                settings.lease_ttl_seconds,
                number_policy=number_policy(settings),
            ),
            webhook_base=settings.webhook_base,
            rng=random.Random(seed),
        )
        executor = InlineExecutor(partial(originate, services), settings.max_in_flight_requests)
        yield Runtime(
            settings=settings,
            services=services,
            store=store,
            executor=executor,
            dispatcher=Dispatcher(services, executor, settings.dispatch_batch_size),
            reaper=Reaper(services),
            verifier=verifier,
        )
    finally:
        await telephony.aclose()
        await store.close()

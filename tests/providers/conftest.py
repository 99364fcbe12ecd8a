"""Fixtures for the provider tests: a simulator in each dialect, the matching adapter and
webhook verifier, a signed-callback receiver, and a whole engine wired to any provider.

These tests run on SQLite unless a test asks for both backends (``indirect`` parametrize on
``backend``): what they prove is about the provider boundary, not the store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from dialer.adapters.clock import ScaledClock
from dialer.adapters.telephony.inbound import RequestVerifier
from dialer.adapters.telephony.plivo import PlivoTelephony
from dialer.adapters.telephony.plivo_signature import PlivoWebhookVerifier
from dialer.adapters.telephony.telnyx import TelnyxTelephony
from dialer.adapters.telephony.telnyx_signature import (
    TelnyxWebhookVerifier,
    key_from_secret,
    public_key_text,
)
from dialer.adapters.telephony.twilio import TwilioTelephony
from dialer.adapters.telephony.twilio_signature import TwilioWebhookVerifier
from dialer.bootstrap import open_runtime
from dialer.ports import Telephony
from dialer.runner import webhook_listener
from dialer.settings import load_settings
from dialer.simulator.config import SimulatorConfig, config_from
from dialer.simulator.recorder import CallbackRecorder
from dialer.simulator.server import running_app, running_simulator
from tests.conftest import T0
from tests.services.conftest import Engine

TOKEN = "provider-test-token"
ACCOUNTS = {
    "twilio": "AC" + "ef" * 16,
    "plivo": "MAZDQ1ZDCYNDRIYTYXNZ",
    "telnyx": "1494404757140276705",  # the Call Control connection id
}
DIALECTS = tuple(ACCOUNTS)
FAST: dict[str, Any] = {
    "auth_token": TOKEN,
    "speed": 100.0,
    "setup_time": 0.5,
    "ring_min": 1.0,
    "ring_max": 3.0,
    "busy_ring": 1.0,
    "talk_mean": 5.0,
    "drop_after_max": 3.0,
    "callback_retry_delay": 1.0,
    "cps": 1000.0,
    "seed": 5,
}


def dialect_config(dialect: str, **changes: Any) -> SimulatorConfig:
    return config_from({**FAST, "dialect": dialect, "account_sid": ACCOUNTS[dialect], **changes})


def telnyx_public_key(token: str = TOKEN) -> str:
    return public_key_text(key_from_secret(token))


def telephony_for(dialect: str, url: str, token: str = TOKEN, **options: Any) -> Telephony:
    account = ACCOUNTS[dialect]
    if dialect == "plivo":
        return PlivoTelephony(url, account, token, **options)
    if dialect == "telnyx":
        return TelnyxTelephony(url, token, account, **options)
    return TwilioTelephony(url, account, token, **options)


def verifier_for(dialect: str, token: str = TOKEN) -> RequestVerifier:
    if dialect == "plivo":
        return PlivoWebhookVerifier(token)
    if dialect == "telnyx":
        return TelnyxWebhookVerifier(telnyx_public_key(token))
    return TwilioWebhookVerifier(token)


def provider_settings(dialect: str, sim_url: str) -> dict[str, Any]:
    account = ACCOUNTS[dialect]
    if dialect == "plivo":
        return {
            "provider": "plivo",
            "plivo_api_base": sim_url,
            "plivo_auth_id": account,
            "plivo_auth_token": TOKEN,
        }
    if dialect == "telnyx":
        return {
            "provider": "telnyx",
            "telnyx_api_base": sim_url,
            "telnyx_api_key": TOKEN,
            "telnyx_public_key": telnyx_public_key(),
            "telnyx_connection_id": account,
        }
    return {"twilio_api_base": sim_url, "twilio_account_sid": account, "twilio_auth_token": TOKEN}


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def recorder_for() -> Callable[[str], AbstractAsyncContextManager[Any]]:
    """``async with recorder_for(dialect) as (recorder, base_url):`` a callback receiver."""

    @asynccontextmanager
    async def make(dialect: str) -> AsyncIterator[tuple[CallbackRecorder, str]]:
        recorder = CallbackRecorder(TOKEN, verifier=verifier_for(dialect))
        async with running_app(recorder.app) as url:
            yield recorder, url

    return make


ProviderEngine = Callable[..., AbstractAsyncContextManager[Engine]]


@pytest.fixture
def provider_engine(database_url: str) -> ProviderEngine:
    """``async with provider_engine(dialect, sim=..., **settings) as e:`` a wired engine whose
    provider is the simulator speaking ``dialect``."""

    @asynccontextmanager
    async def make(
        dialect: str, sim: SimulatorConfig | None = None, **settings: Any
    ) -> AsyncIterator[Engine]:
        config = sim or dialect_config(dialect)
        clock = ScaledClock(T0, config.speed)
        async with running_simulator(config) as sim_url:
            values = {
                "database_url": database_url,
                "listen": "127.0.0.1:0",
                "tick_seconds": 0.01,
                "reaper_seconds": 5.0,
                **provider_settings(dialect, sim_url),
            }
            app_settings = load_settings(**{**values, **settings})
            async with (
                open_runtime(app_settings, clock=clock, seed=3) as runtime,
                webhook_listener(runtime, "127.0.0.1", 0) as port,
                httpx.AsyncClient(base_url=sim_url) as client,
            ):
                runtime.services.webhook_base = f"http://127.0.0.1:{port}"
                yield Engine(runtime, client, clock)

    return make

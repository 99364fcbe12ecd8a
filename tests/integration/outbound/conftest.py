"""Outbound webhooks against a real receiver: the API in process on the database under test
(SQLite and PostgreSQL), a manual clock at the present (receivers check the signature's
timestamp against their own clock), and an aiohttp receiver on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dialer.adapters.clock import ManualClock
from dialer.bootstrap import Runtime, open_runtime
from dialer.services.webhook_delivery import WebhookDeliverer
from dialer.settings import load_settings
from tests.support.api import BASE, Keys, api_client, bearer, make_keys
from tests.support.webhook_receiver import Receiver, running_receiver

WEBHOOK_SETTINGS: dict[str, Any] = {
    "webhook_allow_http": True,  # the receiver is plain http on loopback
    "webhook_allow_private": True,
    "webhook_timeout_seconds": 0.5,
    "webhook_breaker_failures": 3,
    "webhook_breaker_seconds": 30,
    "webhook_retry_hours": 1,
}


@asynccontextmanager
async def webhook_runtime(database_url: str, **overrides: Any) -> AsyncIterator[Runtime]:
    values: dict[str, Any] = {
        "database_url": database_url,
        "twilio_account_sid": "AC" + "1" * 32,
        "twilio_auth_token": "webhook-test-token",
        "twilio_api_base": "http://127.0.0.1:9",  # never called
        "public_base_url": BASE,
        **WEBHOOK_SETTINGS,
        **overrides,
    }
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    async with open_runtime(load_settings(**values), clock=clock, seed=5) as runtime:
        yield runtime


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    async with webhook_runtime(database_url) as rt:
        yield rt


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(runtime) as c:
        yield c


@pytest.fixture
async def keys(runtime: Runtime) -> Keys:
    return await make_keys(runtime)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


def deliverer(runtime: Runtime) -> WebhookDeliverer:
    assert runtime.webhooks is not None
    return runtime.webhooks


def clock_of(runtime: Runtime) -> ManualClock:
    clock = runtime.services.clock
    assert isinstance(clock, ManualClock)
    return clock


async def subscribe(
    client: httpx.AsyncClient, token: str, receiver: Receiver, events: list[str]
) -> dict[str, Any]:
    """An endpoint on the receiver, whose secret the receiver then verifies with."""
    answer = await client.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url, "events": events, "description": "crm"},
        headers=bearer(token),
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    receiver.secrets.append(body["secret"])
    return body

"""A wired runtime on the database under test, the app on an in-process ASGI transport, and
API keys of every scope for two tenants (acme and globex)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from dialer.adapters.clock import ManualClock
from dialer.api.app import create_app
from dialer.bootstrap import Runtime, open_runtime
from dialer.ports import Origination
from dialer.services.api_keys import KeyScope, create_key
from dialer.services.dispatch import Dispatcher
from dialer.settings import load_settings
from tests.conftest import T0
from tests.services.conftest import engine  # noqa: F401  (the wired engine, for e2e tests)

BASE = "https://dialer.example.com"
CAMPAIGN: dict[str, Any] = {
    "name": "spring-reminders",
    "caller_id": "+14155550100",
    "max_concurrency": 5,
    "retry": {"max_attempts": 2, "no_answer": ["10m"]},
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Keys:
    admin: str
    operator: str
    viewer: str
    other: str  # globex's operator
    other_admin: str


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def runtime(database_url: str, settings_overrides: dict[str, Any]) -> AsyncIterator[Runtime]:
    values: dict[str, Any] = {
        "database_url": database_url,
        "twilio_account_sid": "AC" + "1" * 32,
        "twilio_auth_token": "rest-token",
        "twilio_api_base": "http://127.0.0.1:9",  # never called: nothing is dispatched here
        "public_base_url": BASE,
    }
    settings = load_settings(**{**values, **settings_overrides})
    async with open_runtime(settings, clock=ManualClock(T0)) as runtime:
        yield runtime


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


@pytest.fixture
async def keys(runtime: Runtime) -> Keys:
    async def make(tenant: str, scope: KeyScope) -> str:
        _, token = await create_key(runtime.store, tenant, scope, f"{tenant} {scope}", T0)
        return token

    return Keys(
        admin=await make("acme", KeyScope.ADMIN),
        operator=await make("acme", KeyScope.OPERATOR),
        viewer=await make("acme", KeyScope.VIEWER),
        other=await make("globex", KeyScope.OPERATOR),
        other_admin=await make("globex", KeyScope.ADMIN),
    )


async def new_campaign(client: httpx.AsyncClient, token: str, **changes: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/campaigns", json={**CAMPAIGN, **changes}, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class HeldExecutor:
    """Keeps submitted originations without sending them: attempts stay QUEUED."""

    def __init__(self) -> None:
        self.batches: list[Sequence[Origination]] = []

    async def submit(self, batch: Sequence[Origination]) -> None:
        self.batches.append(batch)

    async def drain(self) -> None:
        return None


async def dispatch_once(runtime: Runtime) -> int:
    """One dispatcher tick that records attempts but sends nothing; returns how many."""
    held = HeldExecutor()
    await Dispatcher(runtime.services, held).run_once()
    return sum(len(batch) for batch in held.batches)


async def place(client: httpx.AsyncClient, token: str, to: str, **extra: Any) -> httpx.Response:
    call = {"to": to, "from": "+14155550100", **extra}
    return await client.post("/v1/calls", json=call, headers=bearer(token))

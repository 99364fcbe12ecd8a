"""The REST API in process: a runtime on the database under test (nothing is dialled), the app
on an ASGI transport, and API keys of every scope for two tenants (acme and globex)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from dialer.adapters.clock import ManualClock
from dialer.api.app import create_app
from dialer.bootstrap import Runtime, open_runtime
from dialer.ports import NewDeadLetter
from dialer.ports.jobs import ORIGINATE, job_payload
from dialer.services.access import KeyScope, create_key
from dialer.services.dispatch import Dispatcher
from dialer.settings import load_settings
from tests.support.clock import T0
from tests.support.engine import HeldExecutor

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


@asynccontextmanager
async def api_runtime(
    database_url: str, token: str = "rest-token", **overrides: Any
) -> AsyncIterator[Runtime]:
    """A runtime on a manual clock at T0 whose provider is never called."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "twilio_account_sid": "AC" + "1" * 32,
        "twilio_auth_token": token,
        "twilio_api_base": "http://127.0.0.1:9",  # never called: nothing is dispatched here
        "public_base_url": BASE,
    }
    async with open_runtime(load_settings(**{**values, **overrides}), clock=ManualClock(T0)) as rt:
        yield rt


@asynccontextmanager
async def api_client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


async def make_keys(runtime: Runtime) -> Keys:
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


async def place(client: httpx.AsyncClient, token: str, to: str, **extra: Any) -> httpx.Response:
    call = {"to": to, "from": "+14155550100", **extra}
    return await client.post("/v1/calls", json=call, headers=bearer(token))


async def plant_letters(runtime: Runtime, client: httpx.AsyncClient, keys: Keys) -> dict[str, int]:
    """A failed origination of acme's, a failed job of another kind, and one of globex's."""
    await place(client, keys.operator, "+12125550100")
    await place(client, keys.other, "+12125550101")
    held = HeldExecutor()
    await Dispatcher(runtime.services, held).run_once()
    jobs = {job.tenant_id: job for batch in held.batches for job in batch}
    async with runtime.store.unit() as uow:
        acme, globex = await uow.tenants.id_for("acme"), await uow.tenants.id_for("globex")
        for tenant, kind, key, payload in (
            (acme, ORIGINATE, "a", job_payload(jobs[acme])),
            (acme, "webhook", "b", {"raw": "x"}),
            (globex, ORIGINATE, "c", job_payload(jobs[globex])),
        ):
            letter = NewDeadLetter(tenant, kind, key, "provider down", payload, 5)
            await uow.cluster.add_dead_letter(letter, T0)
        await uow.commit()
        ids = {
            row.kind + str(row.tenant_id): row.id
            for row in await uow.cluster.dead_letters(None, 0, 10, False)
        }
    return {
        "origination": ids[f"{ORIGINATE}{acme}"],
        "other": ids[f"webhook{acme}"],
        "theirs": ids[f"{ORIGINATE}{globex}"],
    }

"""Schemathesis against /openapi.json: generated requests (valid and invalid) for every
operation, checked for server errors and for answers that break the published schema."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import schemathesis
from httpx import ASGITransport, AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.types import Receive, Scope, Send

from dialer.adapters.clock import ManualClock
from dialer.api.app import create_app
from dialer.bootstrap import open_runtime
from dialer.services.access import KeyScope, create_key
from dialer.settings import load_settings
from tests.support.api import BASE, CAMPAIGN
from tests.support.clock import T0

EXAMPLES = 15  # per operation and generation mode: bounded, ~40 s for the whole API


class LazyApp:
    """The app built inside its own lifespan, so the database engine lives on the event loop
    that serves the requests (schemathesis drives the app from its own loop thread)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.token = ""
        self._stack = AsyncExitStack()
        self._app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._start()
                await send({"type": "lifespan.startup.complete"})
            else:
                await self._stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        config = load_settings(
            database_url=self.database_url,
            twilio_account_sid="AC" + "1" * 32,
            twilio_auth_token="contract-token",
            twilio_api_base="http://127.0.0.1:9",
            public_base_url=BASE,
        )
        runtime = await self._stack.enter_async_context(open_runtime(config, clock=ManualClock(T0)))
        _, self.token = await create_key(runtime.store, "acme", KeyScope.ADMIN, "contract", T0)
        self._app = create_app(runtime)
        # Something to find: ids 1 exist, so generated ids reach real resources too.
        headers = {"Authorization": f"Bearer {self.token}"}
        async with AsyncClient(transport=ASGITransport(self._app), base_url=BASE) as client:
            await client.post("/v1/campaigns", json=CAMPAIGN, headers=headers)
            await client.post(
                "/v1/calls", json={"to": "+12125550100", "from": "+14155550100"}, headers=headers
            )


# positive_data_acceptance expects every schema-valid request to succeed; ours cannot all:
# the schema cannot say which strings are real phone numbers or which ids exist.
EXCLUDED = [positive_data_acceptance]


def test_no_server_errors_and_no_schema_violations(database_url: str) -> None:
    app = LazyApp(database_url)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    try:
        failures, statuses = _run(schema, app)
    finally:
        asgi.shutdown_lifespans()  # closes the runtime on the loop that opened it
    assert failures == [], "\n\n".join(failures)
    assert not any(code >= 500 for code in statuses), statuses
    assert {200, 201, 202, 404, 422} <= set(statuses)  # reached real resources, and refused


def _run(schema: Any, app: LazyApp) -> tuple[list[str], dict[int, int]]:
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                response = case.call_and_validate(
                    headers={"Authorization": f"Bearer {app.token}"},
                    excluded_checks=EXCLUDED,
                )
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            try:
                check()
            except Unsatisfiable:
                pass  # no parameters and no body: nothing to make invalid
            except (Exception, FailureGroup) as exc:  # gathered: one run reports every operation
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures, statuses

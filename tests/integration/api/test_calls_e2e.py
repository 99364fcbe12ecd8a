"""Calls placed through the API, dialled for real: the in-process simulator over HTTP counts
what it saw. Far more calls than the cap are accepted at once and never refused; the
dispatcher paces them under the cap until every one has ended."""

from __future__ import annotations

import asyncio
import time

import httpx

from dialer.api.app import create_app
from dialer.domain.statuses import TERMINAL_LEAD, LeadStatus
from dialer.services.access import KeyScope, create_key
from tests.support.api import BASE, bearer
from tests.support.clock import T0
from tests.support.engine import EngineFactory

CALLS = 30
CAP = 3


async def test_api_calls_queue_beyond_the_cap_and_all_get_dialled(engine: EngineFactory) -> None:
    async with engine(campaign_max_concurrency=CAP) as e:
        _, token = await create_key(e.store, "acme", KeyScope.OPERATOR, "e2e", T0)
        transport = httpx.ASGITransport(app=create_app(e.runtime))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            calls = [{"to": f"+1212555{i:04d}", "from": "+14155550100"} for i in range(CALLS)]
            started = time.monotonic()
            response = await client.post(
                "/v1/calls/bulk", json={"calls": calls}, headers=bearer(token)
            )
            answered_in = time.monotonic() - started
            assert response.status_code == 202
            accepted = response.json()["accepted"]
            assert len(accepted) == CALLS  # all accepted although the cap is 3
            assert answered_in < 5  # at once: the answer does not wait for any call

            deadline = time.monotonic() + 60
            statuses: set[LeadStatus] = set()
            while time.monotonic() < deadline:
                await e.runtime.dispatcher.run_once()
                leads = [
                    await client.get(f"/v1/leads/{c['id']}", headers=bearer(token))
                    for c in accepted
                ]
                statuses = {LeadStatus(lead.json()["status"]) for lead in leads}
                if statuses <= TERMINAL_LEAD:
                    break
                await asyncio.sleep(0.02)
            assert statuses <= TERMINAL_LEAD, statuses
        stats = await e.stats()
    assert stats["calls_created"] == CALLS
    assert stats["peak_active"] <= CAP
    assert stats["overlapping_calls_to_same_number"] == 0

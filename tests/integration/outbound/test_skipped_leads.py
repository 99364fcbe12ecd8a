"""Leads that end without a call are reported too: a number put on the do-not-call list after
the import is skipped at dial time, and its lead.finished reaches the tenant's endpoint with
the other leads' (SQLite and PostgreSQL, a real receiver verifying every signature)."""

from __future__ import annotations

import asyncio

from dialer.domain.retry import RetryPolicy
from dialer.runner import run_to_end
from dialer.services.safety import add_to_do_not_call
from tests.support.engine import EngineFactory, contacts, settings, sim_config
from tests.support.webhook_receiver import (
    RECEIVING,
    deliver_until,
    running_receiver,
    subscribe_receiver,
)


async def test_a_lead_skipped_at_dial_time_is_reported_finished(engine: EngineFactory) -> None:
    people = contacts(3)
    listed = people[0].phone
    async with running_receiver() as receiver, engine(sim=sim_config(), **RECEIVING) as e:
        campaign = await e.campaign(settings(retry=RetryPolicy(1), ramp_up=0), people)
        await subscribe_receiver(
            e.runtime.services, campaign.tenant_id, receiver, ["lead.finished"]
        )
        await add_to_do_not_call(e.store, "acme", [("line 1", listed, "asked")])
        await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)

        def all_in() -> bool:
            return len({p["data"]["lead_id"] for p in receiver.delivered()}) == len(people)

        await deliver_until(e.runtime, all_in, "every lead's finish delivered")
    finished = {p["data"]["phone"]: p for p in receiver.delivered()}
    skipped = finished[listed]
    assert skipped["data"]["status"] == "SKIPPED"
    assert skipped["data"]["outcome"] == "do_not_call"
    assert skipped["data"]["attempts"] == 0
    assert skipped["sequence"] == 1
    assert {p["data"]["status"] for phone, p in finished.items() if phone != listed} <= {
        "DONE",
        "FAILED",
        "EXHAUSTED",
    }

"""The pre-dial hook end to end, on SQLite and PostgreSQL: campaigns dialled against the
simulator, the hook a real receiver that verifies each request's signature and answers as
told. What was called, from which number and with which instructions, is counted from the
simulator's side; every admission lease is back once the campaign ends."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from dialer.adapters.store.tables import call_attempts as attempts
from dialer.adapters.store.tables import leads
from dialer.domain.pre_dial import OnError, PreDialHook
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import CampaignStatus
from dialer.runner import run_to_end
from tests.support.engine import Engine, EngineFactory, contacts, settings
from tests.support.webhook_receiver import (
    DROP,
    SLOW,
    Receiver,
    running_receiver,
    subscribe_receiver,
)

ANSWER_URL = "https://bot.example/answer?campaign=7"
POOL = ("+14155550100", "+14155550111")
HOOKED = {"webhook_allow_http": True, "webhook_allow_private": True}


async def subscribe(e: Engine, receiver: Receiver, tenant_id: int) -> None:
    await subscribe_receiver(e.runtime.services, tenant_id, receiver, ["attempt.pre_dial"])


def hooked(receiver: Receiver, on_error: OnError = OnError.SKIP, **changes: Any) -> Any:
    base: dict[str, Any] = {
        "retry": RetryPolicy(1),
        "ramp_up": 0,
        "answer_url": ANSWER_URL,
        "caller_ids": POOL,
        "pre_dial": PreDialHook(receiver.url, 0.5, on_error),
    }
    return settings(**(base | changes))


async def rows(e: Engine, table: Any, campaign_id: int) -> list[dict[str, Any]]:
    async with e.store.unit() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        stmt = select(table).where(table.c.campaign_id == campaign_id)
        return [dict(row._mapping) for row in await conn.execute(stmt)]


async def run(e: Engine, campaign_id: int) -> Any:
    return await asyncio.wait_for(run_to_end(e.runtime, campaign_id), 60)


async def no_lease_held(e: Engine, campaign: Any) -> bool:
    scope = e.runtime.services.scope(campaign)
    return await e.runtime.services.admission.headroom(scope) == campaign.settings.max_concurrency


async def test_the_hook_is_asked_signed_and_its_answer_shapes_each_call(
    engine: EngineFactory,
) -> None:
    """proceed with parameters and a caller id from the pool; cancel; defer (the lead is
    called later, its attempts unspent)."""
    people = contacts(3)
    first_asks: set[str] = set()

    def answer(payload: dict[str, Any]) -> dict[str, Any]:
        to = payload["data"]["to"]
        if to == people[0].phone:
            return {"action": "proceed", "caller_id": POOL[1], "parameters": {"session": "s-1"}}
        if to == people[1].phone:
            return {"action": "cancel", "reason": "already a customer"}
        if to not in first_asks:
            first_asks.add(to)
            return {"action": "defer", "seconds": 120}
        return {"action": "proceed"}

    async with running_receiver() as receiver, engine(**HOOKED) as e:
        receiver.otherwise = answer
        campaign = await e.campaign(hooked(receiver), people)
        await subscribe(e, receiver, campaign.tenant_id)
        final = await run(e, campaign.id)
        stats = await e.stats()
        lead_rows = {r["phone"]: r for r in await rows(e, leads, campaign.id)}
        attempt_rows = await rows(e, attempts, campaign.id)
        assert await no_lease_held(e, campaign)
    assert final.status is CampaignStatus.COMPLETED
    assert receiver.refused == []  # every request verified with the endpoint's secret
    asked = [p["data"] for p in receiver.received_payloads()]
    assert all(p["type"] == "attempt.pre_dial" for p in receiver.received_payloads())
    expected = [people[0].phone, people[1].phone, people[2].phone, people[2].phone]
    assert sorted(d["to"] for d in asked) == sorted(expected)
    assert {d["contact"]["id"] for d in asked} == {r["contact_id"] for r in lead_rows.values()}
    placed = {c["to"]: c for c in stats["calls_placed"]}
    assert set(placed) == {people[0].phone, people[2].phone}  # the cancelled one never rang
    assert stats["max_calls_per_number"] == 1
    assert placed[people[0].phone]["from"] == POOL[1]
    query = parse_qs(urlsplit(placed[people[0].phone]["answer_url"]).query)
    assert query == {"campaign": ["7"], "session": ["s-1"]}
    assert placed[people[2].phone]["answer_url"] == ANSWER_URL
    skipped = lead_rows[people[1].phone]
    assert skipped["status"] == "SKIPPED"
    assert skipped["attempts"] == 0
    deferred = lead_rows[people[2].phone]
    assert deferred["attempts"] == 1  # the deferral spent none
    by_phone = {}
    for row in attempt_rows:
        by_phone.setdefault(row["phone"], []).append(row)
    assert [a["status"] for a in by_phone[people[1].phone]] == ["CANCELED"]
    assert "already a customer" in by_phone[people[1].phone][0]["hangup_cause"]
    assert sorted(a["status"] for a in by_phone[people[2].phone])[0] == "CANCELED"
    assert [a["caller_id"] for a in by_phone[people[0].phone]] == [POOL[1]]


async def test_a_hook_that_fails_follows_on_error(engine: EngineFactory) -> None:
    """skip: the lead is skipped; proceed: called as if the hook had said so; retry: due
    again later, its attempts unspent (here the hook works the second time)."""
    people = contacts(6)
    outcomes = {}
    for on_error, (first, second), fault in (
        (OnError.SKIP, people[0:2], 500),
        (OnError.PROCEED, people[2:4], SLOW),
        (OnError.RETRY, people[4:6], DROP),
    ):
        async with running_receiver() as receiver, engine(**HOOKED) as e:
            receiver.slow_seconds = 1.0  # the hook's timeout is 0.5 s
            receiver.answer(fault, fault)
            campaign = await e.campaign(hooked(receiver, on_error), [first, second])
            await subscribe(e, receiver, campaign.tenant_id)
            final = await run(e, campaign.id)
            stats = await e.stats()
            lead_rows = await rows(e, leads, campaign.id)
            assert await no_lease_held(e, campaign)
        assert final.status is CampaignStatus.COMPLETED
        outcomes[on_error] = (stats["calls_created"], sorted(r["status"] for r in lead_rows))
        assert stats["max_calls_per_number"] <= 1
    assert outcomes[OnError.SKIP] == (0, ["SKIPPED", "SKIPPED"])
    assert outcomes[OnError.PROCEED][0] == 2
    assert outcomes[OnError.RETRY][0] == 2  # the hook answered (204) on the second ask


async def test_an_unsubscribed_hook_url_is_not_called(engine: EngineFactory) -> None:
    """The hook's URL must be an endpoint of the tenant subscribed to attempt.pre_dial (its
    secret signs the request): otherwise the hook fails, and on_error (skip) applies."""
    async with running_receiver() as receiver, engine(**HOOKED) as e:
        campaign = await e.campaign(hooked(receiver), contacts(2))
        final = await run(e, campaign.id)
        stats = await e.stats()
        lead_rows = await rows(e, leads, campaign.id)
        assert await no_lease_held(e, campaign)
    assert final.status is CampaignStatus.COMPLETED
    assert receiver.received == []
    assert receiver.refused == []
    assert stats["calls_created"] == 0
    assert {r["status"] for r in lead_rows} == {"SKIPPED"}


async def test_slow_hooks_never_take_a_campaign_past_its_cap(engine: EngineFactory) -> None:
    """Every hook answers after 0.3 s: the calls wait for it with their capacity held, and the
    simulator never sees more live calls than the cap."""
    people = contacts(12)
    async with running_receiver() as receiver, engine(**HOOKED) as e:
        receiver.slow_seconds = 0.3
        receiver.otherwise = lambda payload: SLOW
        campaign = await e.campaign(hooked(receiver, max_concurrency=3), people)
        await subscribe(e, receiver, campaign.tenant_id)
        final = await run(e, campaign.id)
        stats = await e.stats()
        assert await no_lease_held(e, campaign)
    assert final.status is CampaignStatus.COMPLETED
    assert stats["calls_created"] == len(people)
    assert stats["peak_active"] <= 3
    assert stats["max_calls_per_number"] == 1
    assert receiver.peak <= 3  # hooks in flight are part of the cap too

"""Contact safety through the real engine: do-not-call checked at dial time, frequency caps
and the cool-down across campaigns, and the contact's history. Counted by the simulator."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from dialer.domain.model import CampaignSettings
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.domain.safety import NumberPolicy
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.errors import InvalidInput
from dialer.runner import run_to_end
from dialer.services.campaigns import start_campaign
from dialer.services.safety import (
    add_to_do_not_call,
    contact_history,
    is_listed,
    remove_from_do_not_call,
    set_policy,
)
from tests.support.engine import Engine, EngineFactory, contacts, lead_rows, sim_config

DEFAULT = NumberPolicy()
ANSWER = sim_config(outcome_mix={"answer": 1.0})


def campaign(name: str, **changes: object) -> CampaignSettings:
    base: dict[str, object] = {
        "name": name,
        "caller_id": "+14155550100",
        "max_concurrency": 5,
        "ring_timeout": 10,
        "max_call_duration": 60,
    }
    return CampaignSettings(**{**base, **changes})  # type: ignore[arg-type]


async def run(e: Engine, settings: CampaignSettings, n: int = 4) -> int:
    created = await e.campaign(settings, contacts(n))
    await asyncio.wait_for(run_to_end(e.runtime, created.id), 60)
    return created.id


async def test_do_not_call_is_checked_at_dial_time(engine: EngineFactory) -> None:
    async with engine(sim=ANSWER) as e:
        people = contacts(6)
        created = await e.campaign(campaign("dnc"), people)
        # Listed after the import, before dialling: the tenant's list and the global list.
        await add_to_do_not_call(e.store, "acme", [("line 1", people[0].phone, "asked")])
        await add_to_do_not_call(
            e.store, "other", [("line 1", people[1].phone, None)], is_global=True
        )
        await asyncio.wait_for(run_to_end(e.runtime, created.id), 60)
        stats = await e.stats()
        rows = {row["phone"]: row for row in await lead_rows(e, created.id)}
    called = set(stats["calls_per_number"])
    assert people[0].phone not in called
    assert people[1].phone not in called
    assert called == {p.phone for p in people[2:]}
    for listed in people[:2]:
        assert (rows[listed.phone]["status"], rows[listed.phone]["outcome"]) == (
            "SKIPPED",
            "do_not_call",
        )


async def test_do_not_call_management(engine: EngineFactory) -> None:
    async with engine() as e:
        store = e.store
        added = await add_to_do_not_call(
            store, "acme", [("line 1", "(212) 555-0100", "asked"), ("line 2", "+12125550100", None)]
        )
        assert added == 1  # the same number twice, once normalised
        assert await is_listed(store, "acme", "+1 212 555 0100")
        assert not await is_listed(store, "globex", "+12125550100")
        with pytest.raises(InvalidInput) as caught:
            await add_to_do_not_call(
                store, "acme", [("line 1", "+12125550101", None), ("line 2", "x", None)]
            )
        assert [p.location for p in caught.value.problems] == ["line 2"]
        assert not await is_listed(store, "acme", "+12125550101")  # all or nothing
        assert await remove_from_do_not_call(store, "acme", ["+12125550100"]) == 1
        assert not await is_listed(store, "acme", "+12125550100")


async def test_frequency_cap_holds_across_campaigns(engine: EngineFactory) -> None:
    busy = {p.phone: "busy" for p in contacts(3)}
    retry = RetryPolicy(5, {Outcome.BUSY: FixedDelays((20,))})
    async with engine(sim=sim_config(outcome_overrides=busy)) as e:
        await set_policy(
            e.store, "acme", {"number_max_attempts": 3, "number_window_seconds": 3600}, DEFAULT
        )
        first = await e.campaign(campaign("first", retry=retry), contacts(3))
        second = await e.campaign(campaign("second", retry=retry), contacts(3))
        await start_campaign(e.runtime.services, first.id)
        await start_campaign(e.runtime.services, second.id)
        for _ in range(60):  # 60 ticks of real time: many retry delays of simulated time
            await e.runtime.dispatcher.run_once()
            await asyncio.sleep(0.1)
        stats = await e.stats()
        rows = await lead_rows(e, first.id) + await lead_rows(e, second.id)
    assert max(stats["calls_per_number"].values()) == 3  # two campaigns, five attempts each
    assert stats["overlapping_calls_to_same_number"] == 0
    waiting = [r for r in rows if r["status"] == LeadStatus.WAITING_RETRY.value]
    assert waiting  # held back by the cap, not given up
    assert all(r["attempts"] < 5 for r in rows)


async def test_no_campaign_calls_during_the_cooldown(engine: EngineFactory) -> None:
    async with engine(sim=ANSWER) as e:
        await run(e, campaign("talked"), 3)
        later = await e.campaign(campaign("too-soon"), contacts(3))
        await start_campaign(e.runtime.services, later.id)
        for _ in range(20):
            await e.runtime.dispatcher.run_once()
            await asyncio.sleep(0.05)
        stats = await e.stats()
        rows = await lead_rows(e, later.id)
    assert set(stats["calls_per_number"].values()) == {1}
    assert {r["attempts"] for r in rows} == {0}
    assert all(r["status"] == LeadStatus.PENDING.value for r in rows)
    wait = min(r["next_attempt_at"] for r in rows) - e.clock.now()  # type: ignore[operator]
    assert timedelta(hours=23) < wait <= timedelta(hours=24)  # the default 24 h cool-down


async def test_contact_history_spans_campaigns(engine: EngineFactory) -> None:
    async with engine(sim=ANSWER) as e:
        await set_policy(e.store, "acme", {"conversation_cooldown_seconds": 0}, DEFAULT)
        await run(e, campaign("spring"), 2)
        await run(e, campaign("summer"), 2)
        history = await contact_history(e.store, "acme", contacts(1)[0].phone)
        elsewhere = await contact_history(e.store, "globex", contacts(1)[0].phone)
    assert [h.campaign for h in history] == ["summer", "spring"]  # newest first
    assert {h.attempt.status for h in history} == {AttemptStatus.COMPLETED}
    assert elsewhere == []  # another tenant sees nothing


async def test_tenant_policy_is_validated(engine: EngineFactory) -> None:
    async with engine() as e:
        with pytest.raises(InvalidInput) as caught:
            await set_policy(e.store, "acme", {"number_max_attempts": 3, "x": 1}, DEFAULT)
        assert [p.location for p in caught.value.problems] == ["x"]
        with pytest.raises(InvalidInput) as caught:  # text is not a number, even "3"
            await set_policy(e.store, "acme", {"number_max_attempts": "3"}, DEFAULT)
        assert [p.location for p in caught.value.problems] == ["number_max_attempts"]
        with pytest.raises(InvalidInput):
            await set_policy(e.store, "acme", {"number_max_attempts": 0}, DEFAULT)

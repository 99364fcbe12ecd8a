"""The rules every channel keeps, for SMS, end to end on SQLite and PostgreSQL against the
simulator: the phone→SMS fallback while the voice provider's breaker is open, a STOP reply
honoured before the next message, and no message outside the contact's window. Counted from
the simulator's side."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dialer.domain.channels import Channel, MessageStep
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import CampaignStatus
from dialer.domain.window import CallingWindow
from dialer.runner import run_to_end
from dialer.services.campaigns import start_campaign
from dialer.services.safety import set_policy
from dialer.simulator.config import SmsOutcome
from tests.integration.channels.test_sms_steps import SENDER, contacts, message_rows
from tests.support.engine import Engine, EngineFactory, lead_rows, settings, sim_config

DELIVERED = {SmsOutcome.DELIVERED: 1.0}
FALLBACK = MessageStep(
    Channel.SMS,
    "We could not call you, {{ name }}. Reply STOP to opt out.",
    when=frozenset({"unreachable", "no_answer"}),
    sender=SENDER,
)


async def ticks_until(
    e: Engine, done: Callable[[list[dict[str, Any]]], object], campaign_id: int
) -> list[dict[str, Any]]:
    """Dispatcher ticks until ``done`` holds for the campaign's message rows (at most 60 s
    real, however loaded the machine); the rows."""
    for _ in range(6000):
        await e.runtime.dispatcher.run_once()
        rows = await message_rows(e, campaign_id)
        if done(rows):
            return rows
        await asyncio.sleep(0.01)
    raise AssertionError(f"not reached in time; the rows: {rows}")


async def test_while_the_voice_breaker_is_open_leads_get_their_sms_instead(
    engine: EngineFactory,
) -> None:
    numbers = [f"+1212555{n:04d}" for n in range(400, 420)]
    sim = sim_config(error_rate=1.0, sms_outcome_mix=DELIVERED, sms_mps=100.0)
    breaker = {"breaker_min_calls": 5, "breaker_open_seconds": 3600.0}
    campaign_settings = settings(retry=RetryPolicy(1), steps=(FALLBACK,), max_concurrency=2)
    async with engine(sim=sim, **breaker) as e:
        campaign = await e.campaign(campaign_settings, contacts(numbers))
        final = await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
        stats = await e.stats()
        leads = await lead_rows(e, campaign.id)
        rows = await message_rows(e, campaign.id)
        assert e.runtime.guard is not None
        breaker = e.runtime.guard.state().breaker
    assert breaker.times_opened >= 1
    assert final.status is CampaignStatus.COMPLETED
    assert stats["calls_created"] == 0  # every create was refused: no call reached anyone
    # Every lead got the SMS, once, as its fallback; none spent an attempt on the outage.
    assert sorted(m["to"] for m in stats["sms"]["messages"]) == numbers
    assert stats["sms"]["duplicates"] == 0
    assert {r["status"] for r in rows} == {"DELIVERED"}
    assert {r["outcomes"][0] for r in rows} == {"unreachable"}
    assert {lead["attempts"] for lead in leads} == {0}
    assert {str(lead["outcome"]).split(":")[0] for lead in leads} == {"unreachable"}


async def test_a_stop_reply_is_honoured_before_the_next_message(engine: EngineFactory) -> None:
    stops, stays = "+12125550501", "+12125550502"
    follow_up = MessageStep(
        Channel.SMS,
        "Last reminder, {{ name }}.",
        when=frozenset({"sms.delivered"}),
        sender=SENDER,
        after=120,  # two simulated minutes: the STOP reply comes within seconds
    )
    sim = sim_config(
        outcome_mix={"no_answer": 1.0},
        sms_outcome_mix=DELIVERED,
        sms_mps=100.0,
        sms_replies={stops: "Stop"},
        sms_reply_delay=1.0,
    )
    steps = (replace(FALLBACK, when=frozenset({"no_answer"})), follow_up)
    async with engine(sim=sim) as e:
        listener = e.runtime.services.webhook_base
        inbound = f"{listener}/webhooks/twilio/messages/inbound"
        await e.sim.post("/_sim/config", json={"sms_inbound_url": inbound})
        campaign = await e.campaign(
            settings(retry=RetryPolicy(1), steps=steps), contacts([stops, stays])
        )
        final = await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
        stats = (await e.stats())["sms"]
        rows = {(r["to_address"], r["step"]): r for r in await message_rows(e, campaign.id)}
        async with e.store.unit() as uow:
            opted = await uow.messages.opted_out(campaign.tenant_id, Channel.SMS, [stops, stays])
    assert final.status is CampaignStatus.COMPLETED
    assert stats["inbound_sent"] == 1
    assert opted == {stops}
    assert rows[(stops, 2)]["status"] == "SKIPPED"
    assert rows[(stops, 2)]["error"] == "opted out of sms"
    assert rows[(stays, 2)]["status"] == "DELIVERED"
    assert sorted((m["to"], m["body"]) for m in stats["messages"]) == [
        (stops, "We could not call you, c501. Reply STOP to opt out."),
        (stays, "Last reminder, c502."),
        (stays, "We could not call you, c502. Reply STOP to opt out."),
    ]
    assert stats["sent_to_opted_out"] == 0


async def test_no_sms_outside_the_contacts_window(engine: EngineFactory) -> None:
    """The call is made ten minutes before the window closes (a margin for a loaded machine at
    100x); its SMS, due twenty minutes after, is not sent that evening but kept for the
    window's next opening."""
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 12, 2, 19, 50, tzinfo=ny)  # a Wednesday
    window = CallingWindow.daily(range(7), 9 * 3600, 20 * 3600)
    late = replace(FALLBACK, when=frozenset({"no_answer"}), after=1200)
    number = "+12125550601"
    sim = sim_config(outcome_mix={"no_answer": 1.0}, sms_outcome_mix=DELIVERED, sms_mps=100.0)
    campaign_settings = settings(retry=RetryPolicy(1), steps=(late,), window=window)
    async with engine(sim=sim, start=start.astimezone(ZoneInfo("UTC"))) as e:
        campaign = await e.campaign(campaign_settings, contacts([number]))
        await start_campaign(e.runtime.services, campaign.id)
        # Until five simulated minutes past the SMS's due time (twenty after it was decided).
        [decided] = await ticks_until(e, lambda rows: rows, campaign.id)
        past_due = decided["created_at"] + timedelta(minutes=25)
        await ticks_until(e, lambda _: e.clock.now() > past_due, campaign.id)
        stats = (await e.stats())["sms"]
        [row] = await message_rows(e, campaign.id)
    assert stats["messages_accepted"] == 0
    assert row["status"] == "PENDING"
    assert row["due_at"] == datetime(2026, 12, 3, 9, 0, tzinfo=ny)
    assert row["due_at"] - start > timedelta(hours=13)


async def test_the_frequency_cap_holds_per_channel_across_campaigns(
    engine: EngineFactory,
) -> None:
    """With the tenant's policy at two contacts per number a day, per channel: the first
    campaign calls once and texts twice; the second may still call (its second call today),
    but its SMS, the third today, waits."""
    number = "+12125550701"
    sim = sim_config(outcome_mix={"no_answer": 1.0}, sms_outcome_mix=DELIVERED, sms_mps=100.0)
    twice_a_day = {"number_max_attempts": 2, "number_window_seconds": 86400}
    first_sms = replace(FALLBACK, when=frozenset({"no_answer"}))
    second_sms = replace(first_sms, body="Again, {{ name }}.", when=frozenset({"sms.delivered"}))
    async with engine(sim=sim) as e:
        await set_policy(e.store, "acme", twice_a_day, e.runtime.services.limits.number_policy)
        texts_twice = settings(name="first", retry=RetryPolicy(1), steps=(first_sms, second_sms))
        first = await e.campaign(texts_twice, contacts([number]))
        done = await asyncio.wait_for(run_to_end(e.runtime, first.id), 60)
        texts_once = settings(name="second", retry=RetryPolicy(1), steps=(first_sms,))
        second = await e.campaign(texts_once, contacts([number]))
        await start_campaign(e.runtime.services, second.id)
        # The call ends, its SMS is decided and looked at (and put off by the cap).
        waiting = "waiting: the channel's frequency cap for this address"
        await ticks_until(e, lambda rows: rows and rows[0]["error"] == waiting, second.id)
        stats = await e.stats()
        [row] = await message_rows(e, second.id)
    assert done.status is CampaignStatus.COMPLETED
    assert stats["calls_created"] == 2  # calls are a channel of their own
    assert stats["sms"]["messages_accepted"] == 2  # the first campaign's two
    assert row["status"] == "PENDING"
    assert row["error"] == "waiting: the channel's frequency cap for this address"

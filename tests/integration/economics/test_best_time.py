"""Best time to call, end to end on SQLite and PostgreSQL: each attempt the provider took is
counted at its contact-local hour of the week, and a retry moves to the hour the tenant's
contacts answer — unless the policy opts out, when it keeps its delay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dialer.domain.answer_times import HOURS_IN_WEEK, hour_of_week
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.domain.window import CallingWindow
from dialer.ports.answer_store import EVERY, AnswerKey
from dialer.runner import run_to_end
from tests.support.engine import (
    NY,
    Engine,
    EngineFactory,
    contacts,
    lead_rows,
    settings,
    sim_config,
)
from tests.support.polling import until

RETRY = {Outcome.NO_ANSWER: FixedDelays((600,))}  # ten minutes


async def first_attempts_over(e: Engine, campaign_id: int, leads: int) -> bool:
    rows = await lead_rows(e, campaign_id)
    waiting = [r for r in rows if r["status"] == "WAITING_RETRY" and r["next_attempt_at"]]
    return len(waiting) == leads


async def run_first_attempts(e: Engine, campaign_id: int, leads: int) -> list[dict[str, object]]:
    running = asyncio.create_task(run_to_end(e.runtime, campaign_id))
    try:
        await until(lambda: first_attempts_over(e, campaign_id, leads), 60, "every lead waiting")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    return await lead_rows(e, campaign_id)


async def test_a_retry_moves_to_the_hour_contacts_answer_unless_the_policy_opts_out(
    engine: EngineFactory,
) -> None:
    async with engine(sim=sim_config(outcome_mix={"no_answer": 1.0})) as e:
        start = e.clock.now()
        peak = (start + timedelta(hours=4)).astimezone(UTC)
        peak_hour = hour_of_week(peak, NY)
        learned = settings(
            name="learned", ramp_up=0, window=CallingWindow.always(), retry=RetryPolicy(2, RETRY)
        )
        campaign = await e.campaign(learned, contacts(6))
        history = {
            AnswerKey(campaign.tenant_id, EVERY, EVERY, hour): (
                200,
                140 if hour == peak_hour else 8,
            )
            for hour in range(HOURS_IN_WEEK)
        }
        async with e.store.unit() as uow:
            await uow.answers.add(history)
            await uow.commit()
        rows = await run_first_attempts(e, campaign.id, 6)
        fixed = settings(
            name="fixed",
            ramp_up=0,
            window=CallingWindow.always(),
            retry=RetryPolicy(2, RETRY, best_time=False),
        )
        people = contacts(12)[6:]
        kept = await e.campaign(fixed, people)
        kept_rows = await run_first_attempts(e, kept.id, 6)
        after = e.clock.now()
        async with e.store.unit() as uow:
            counted = await uow.answers.counts(campaign.tenant_id, campaign.id, [])
    hour_start = peak.replace(minute=0, second=0, microsecond=0)
    assert {r["next_attempt_at"] for r in rows} == {hour_start}
    for row in kept_rows:
        retry_at = row["next_attempt_at"]
        assert isinstance(retry_at, datetime)
        assert retry_at - after < timedelta(minutes=10)  # its delay, not the peak hour
    made = sum(n for n, _ in counted.tenant.values()) - sum(n for n, _ in history.values())
    assert made == 12  # every first attempt counted once, at the tenant level
    assert sum(n for n, _ in counted.campaign.values()) == 6
    assert sum(answered for _, answered in counted.campaign.values()) == 0

"""The events of a real run: a campaign dialled end to end against the simulator by ``dialer
run``'s loops (its webhook delivery loop among them) reports every attempt's start, answer
and end and every lead's finish to a real receiver, each lead's events numbered in order,
every one signed."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.runner import run_to_end
from tests.support.engine import EngineFactory, contacts, settings, sim_config
from tests.support.webhook_receiver import (
    RECEIVING,
    deliver_until,
    running_receiver,
    subscribe_receiver,
)

PEOPLE = 6


async def reported_by_lead(engine: EngineFactory, events: list[str]) -> dict[int, list[Any]]:
    """Six leads dialled to the end (one busy and retried once, one unanswered, four
    answered), with a receiver subscribed to ``events``: what it got of each lead, once each
    (at least once: a receiver drops what it has had, by the event's id), in arrival order."""
    people = contacts(PEOPLE)
    unanswered = {people[0].phone: "busy", people[1].phone: "no_answer"}
    retry = RetryPolicy(2, {Outcome.BUSY: FixedDelays((1,)), Outcome.NO_ANSWER: FixedDelays(())})
    async with (
        running_receiver() as receiver,
        engine(sim=sim_config(outcome_overrides=unanswered), **RECEIVING) as e,
    ):
        campaign = await e.campaign(settings(retry=retry), people)
        await subscribe_receiver(e.runtime.services, campaign.tenant_id, receiver, events)
        await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)

        def all_in() -> bool:
            finished = [p for p in receiver.delivered() if p["type"] == "lead.finished"]
            return len(finished) == len(people)

        await deliver_until(e.runtime, all_in, "every lead's finish delivered")
    assert receiver.refused == []
    by_lead: dict[int, list[Any]] = defaultdict(list)
    seen = set()
    for payload in receiver.delivered():
        if payload["id"] not in seen:
            seen.add(payload["id"])
            by_lead[payload["data"]["lead_id"]].append(payload)
    return by_lead


async def test_a_runs_attempts_and_leads_reach_the_receiver_in_order(
    engine: EngineFactory,
) -> None:
    reported = await reported_by_lead(engine, ["attempt.ended", "lead.finished"])
    by_lead = {
        lead: [(p["sequence"], p["type"]) for p in payloads] for lead, payloads in reported.items()
    }
    assert len(by_lead) == PEOPLE
    for events in by_lead.values():
        assert [s for s, _ in events] == list(range(1, len(events) + 1))  # in sequence
        assert events[-1][1] == "lead.finished"
        assert all(t == "attempt.ended" for _, t in events[:-1])
    assert max(len(events) for events in by_lead.values()) == 3  # busy, then its retry


async def test_a_campaigns_completion_by_the_dispatcher_is_reported(
    engine: EngineFactory,
) -> None:
    async with (
        running_receiver() as receiver,
        engine(
            sim=sim_config(),
            **RECEIVING,
        ) as e,
    ):
        campaign = await e.campaign(settings(), contacts(2))
        events = ["campaign.state_changed"]
        await subscribe_receiver(e.runtime.services, campaign.tenant_id, receiver, events)
        await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)

        def completed() -> bool:
            return any(p["data"]["status"] == "COMPLETED" for p in receiver.delivered())

        await deliver_until(e.runtime, completed, "the completion delivered")
    moves = {(p["data"]["previous_status"], p["data"]["status"]) for p in receiver.delivered()}
    assert moves == {("DRAFT", "RUNNING"), ("RUNNING", "COMPLETED")}
    assert receiver.refused == []


CALL_EVENTS = ["attempt.started", "attempt.answered", "attempt.ended", "lead.finished"]
UNANSWERED = ["attempt.started", "attempt.ended"]
ANSWERED = ["attempt.started", "attempt.answered", "attempt.ended"]


async def test_each_calls_start_answer_and_end_reach_the_receiver_in_order(
    engine: EngineFactory,
) -> None:
    by_lead = await reported_by_lead(engine, CALL_EVENTS)
    assert len(by_lead) == PEOPLE
    shapes = []
    for events in by_lead.values():
        assert [p["sequence"] for p in events] == list(range(1, len(events) + 1))
        assert events[-1]["type"] == "lead.finished"
        shapes.append([_shape(call) for call in _calls(events[:-1])])
    # The busy lead called twice (one retry), the unanswered one once; the other four answered.
    assert sorted(shapes) == [["answered"]] * 4 + [["unanswered"], ["unanswered"] * 2]


def _calls(events: list[Any]) -> list[list[Any]]:
    """A lead's attempt events cut into its calls, each a run of one attempt's events."""
    calls: list[list[Any]] = []
    for event in events:
        if not calls or calls[-1][0]["data"]["attempt_id"] != event["data"]["attempt_id"]:
            calls.append([])
        calls[-1].append(event)
    return calls


def _shape(call: list[Any]) -> str:
    """The call, "answered" or "unanswered", checked against what its events say."""
    types = [p["type"] for p in call]
    ended = call[-1]["data"]
    answered = ended["answered_at"] is not None
    assert types == (ANSWERED if answered else UNANSWERED)
    assert {p["data"]["provider_call_id"] for p in call} == {ended["provider_call_id"]}
    if answered:
        assert call[1]["data"]["answered_at"] == ended["answered_at"]
    return "answered" if answered else "unanswered"

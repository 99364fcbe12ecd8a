"""Answering machines end to end, on SQLite and PostgreSQL: campaigns with ``machine_detection``
run against the simulator over real HTTP, whose detection reports reach our webhook listener
signed. A machine-answered call ends MACHINE and is retried by the ``machine`` rule; with
``detect_end`` and a voicemail, the voicemail is left after the beep — counted from the
simulator's side — once per call even when every callback is delivered twice; an SMS step
``when: [machine]`` follows it."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from dialer.adapters.store.tables import call_events
from dialer.domain.channels import Channel, MessageStep
from dialer.domain.machines import DetectionMode, MachineDetection, Voicemail
from dialer.domain.phone import zone_key
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.domain.statuses import CampaignStatus
from dialer.ports import ContactDraft
from dialer.runner import run_to_end
from dialer.simulator.config import Outcome as Sim
from dialer.simulator.config import SmsOutcome
from tests.support.engine import (
    NY,
    Engine,
    EngineFactory,
    attempt_rows,
    lead_rows,
    settings,
    sim_config,
)

MACHINE, PERSON = "+12125550200", "+12125550201"
CALLS = {MACHINE: Sim.MACHINE, PERSON: Sim.ANSWER}
MESSAGE = Voicemail(text="Hi, this is Acme. Please call us back.")
SENDER = "+14155550199"


def people() -> list[ContactDraft]:
    return [ContactDraft(number, zone_key((NY,)), name=f"c{number[-3:]}") for number in CALLS]


async def run(e: Engine, **changes: Any) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    campaign = await e.campaign(settings(ramp_up=0, **changes), people())
    final = await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
    assert final.status is CampaignStatus.COMPLETED
    leads = {row["phone"]: row for row in await lead_rows(e, campaign.id)}
    attempts = await attempt_rows(e, campaign.id)
    return leads, await e.stats(), attempts


async def event_effects(e: Engine) -> list[str]:
    async with e.store.unit() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        return [row.effect for row in await conn.execute(select(call_events.c.effect))]


async def test_machines_are_detected_and_retried_by_the_machine_rule(
    engine: EngineFactory,
) -> None:
    policy = RetryPolicy(2, {Outcome.MACHINE: FixedDelays((30,))})
    sim = sim_config(outcome_overrides=CALLS, talk_mean=30.0, amd_latency=0.5)
    async with engine(sim=sim) as e:
        leads, stats, attempts = await run(
            e, retry=policy, machine_detection=MachineDetection(DetectionMode.DETECT)
        )
        effects = await event_effects(e)
    assert (leads[MACHINE]["status"], leads[MACHINE]["attempts"]) == ("EXHAUSTED", 2)
    assert (leads[PERSON]["status"], leads[PERSON]["attempts"]) == ("DONE", 1)
    machine_calls = [a for a in attempts if a["phone"] == MACHINE]
    assert [(a["status"], a["answered_by"]) for a in machine_calls] == [("MACHINE", "machine")] * 2
    [person_call] = [a for a in attempts if a["phone"] == PERSON]
    assert person_call["status"] == "COMPLETED"
    assert person_call["answered_by"] in {"human", None}  # a call shorter than detection: none
    assert stats["machines_answered"] == stats["machines_detected"] == 2
    assert stats["voicemails_left"] == stats["twiml_updates"] == 0  # no voicemail asked for
    assert effects.count("answered by machine") == 2  # each detection report stored once
    assert stats["overlapping_calls_to_same_number"] == 0


async def test_a_voicemail_is_left_after_the_beep_once_per_machine(engine: EngineFactory) -> None:
    """Every callback is delivered twice: the detection report is stored once and the
    voicemail left once."""
    detection = MachineDetection(DetectionMode.DETECT_END, MESSAGE)
    sim = sim_config(
        outcome_overrides=CALLS, duplicate_callback_rate=1.0, speed=20.0, machine_records=200.0
    )
    async with engine(sim=sim) as e:
        leads, stats, attempts = await run(
            e, retry=RetryPolicy(1), machine_detection=detection, max_call_duration=300
        )
    assert stats["callbacks_duplicated"] > 0
    assert stats["machines_detected"] == 1
    assert stats["voicemails_left"] == stats["twiml_updates"] == 1
    assert stats["voicemails_before_beep"] == stats["messages_to_people"] == 0
    [machine_call] = [a for a in attempts if a["phone"] == MACHINE]
    assert (machine_call["status"], machine_call["answered_by"]) == ("MACHINE", "machine")
    # the greeting (8 s), the message (5 s), the hang-up (and the round trips between, in
    # simulated seconds): not the 200 s the machine would record
    assert machine_call["duration"] is not None
    assert 13 <= machine_call["duration"] < 100
    assert leads[MACHINE]["status"] == "EXHAUSTED"  # not retried: no conversation, no failure
    assert leads[PERSON]["status"] == "DONE"


async def test_an_sms_step_follows_a_machine(engine: EngineFactory) -> None:
    step = MessageStep(
        Channel.SMS, "Hi {{ name }}, we left you a message.", frozenset({"machine"}), SENDER
    )
    sim = sim_config(
        outcome_overrides=CALLS, sms_outcome_mix={SmsOutcome.DELIVERED: 1.0}, sms_mps=10.0
    )
    detection = MachineDetection(DetectionMode.DETECT)
    async with engine(sim=sim) as e:
        _, stats, _ = await run(e, retry=RetryPolicy(1), machine_detection=detection, steps=(step,))
    sent = stats["sms"]["messages"]
    assert [(m["to"], m["body"]) for m in sent] == [(MACHINE, "Hi c200, we left you a message.")]

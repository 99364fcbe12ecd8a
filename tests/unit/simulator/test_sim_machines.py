"""Simulated answering machines: drawn by ``machine_rate`` or named in the outcomes, their
calls planned with the detection report at the right moment, and the settings checked."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from dialer.errors import InvalidInput
from dialer.simulator import wire
from dialer.simulator.config import Outcome, SimulatorConfig, config_from
from dialer.simulator.plan import draw_outcome, plan_call

CONFIG = SimulatorConfig(
    setup_time=1.0, ring_min=4.0, ring_max=4.0, talk_mean=60, amd_latency=2.0, amd_beep_after=9.0
)


def plan(outcome: Outcome, detection: str | None, time_limit: int = 3600) -> list[tuple[str, ...]]:
    steps = plan_call(outcome, CONFIG, random.Random(1), 30, time_limit, detection)
    return [(s.status, s.answered_by or "") for s in steps]


def test_a_machine_answers_then_ends_after_its_greeting_and_recording() -> None:
    steps = plan_call(Outcome.MACHINE, CONFIG, random.Random(1), 30, 3600)
    assert [s.status for s in steps] == ["initiated", "ringing", "in-progress", "completed"]
    assert steps[-1].after == CONFIG.amd_beep_after + CONFIG.machine_records


@pytest.mark.parametrize(
    ("outcome", "detection", "report", "after"),
    [
        (Outcome.MACHINE, "detect", "machine_start", 2.0),
        (Outcome.MACHINE, "detect_end", "machine_end_beep", 9.0),
        (Outcome.ANSWER, "detect", "human", 2.0),
        (Outcome.ANSWER, "detect_end", "human", 2.0),
    ],
)
def test_detection_reports_who_answered_after_the_answer(
    outcome: Outcome, detection: str, report: str, after: float
) -> None:
    steps = plan_call(outcome, CONFIG, random.Random(1), 30, 3600, detection)
    answered = [s.status for s in steps].index(wire.IN_PROGRESS)
    detected = steps[answered + 1]
    assert (detected.status, detected.answered_by, detected.after) == (
        wire.IN_PROGRESS,
        report,
        after,
    )
    undetected = plan_call(outcome, CONFIG, random.Random(1), 30, 3600)
    # the call ends when it would have without detection
    assert detected.after + steps[-1].after == pytest.approx(undetected[-1].after)


def test_no_report_for_a_call_over_before_detection_or_never_answered() -> None:
    assert all(by == "" for _, by in plan(Outcome.MACHINE, "detect_end", time_limit=5))
    assert all(by == "" for _, by in plan(Outcome.NO_ANSWER, "detect"))
    assert all(by == "" for _, by in plan(Outcome.DROPPED, "detect"))
    assert all(by == "" for _, by in plan(Outcome.MACHINE, None))


def test_machine_rate_turns_that_share_of_answers_into_machines() -> None:
    config = SimulatorConfig(outcome_mix={Outcome.ANSWER: 1.0}, machine_rate=0.25, seed=3)
    rng = random.Random(3)
    drawn = Counter(draw_outcome(config, rng, "+14155550123") for _ in range(4000))
    assert set(drawn) == {Outcome.ANSWER, Outcome.MACHINE}
    assert 0.22 < drawn[Outcome.MACHINE] / 4000 < 0.28


def test_machines_can_be_named_in_the_outcomes() -> None:
    config = config_from(
        {"outcome_overrides": {"+14155550123": "machine"}, "outcome_mix": {"machine": 1}}
    )
    assert draw_outcome(config, random.Random(1), "+14155550123") is Outcome.MACHINE
    assert draw_outcome(config, random.Random(1), "+14155550999") is Outcome.MACHINE


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"machine_rate": 1.5}, "machine_rate"),
        ({"amd_latency": -1}, "amd_latency"),
        ({"amd_beep_after": -1}, "amd_beep_after"),
        ({"voicemail_seconds": -1}, "voicemail_seconds"),
        ({"machine_records": "long"}, "machine_records"),
    ],
)
def test_bad_machine_settings_are_named(changes: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidInput) as info:
        config_from(changes)
    assert [p.location for p in info.value.problems] == [where]


def test_twilio_detection_parameters_are_read() -> None:
    base = {"To": ["+14155550123"], "From": ["+14155550100"], "Twiml": ["<Response/>"]}
    asked = wire.parse_create(
        {
            **base,
            "MachineDetection": ["DetectMessageEnd"],
            "AsyncAmd": ["true"],
            "AsyncAmdStatusCallback": ["https://example.com/amd"],
        }
    )
    assert (asked.detection, asked.detection_url) == ("detect_end", "https://example.com/amd")
    synchronous = wire.parse_create({**base, "MachineDetection": ["Enable"]})
    assert (synchronous.detection, synchronous.detection_url) == ("detect", None)
    assert wire.parse_create(base).detection is None
    with pytest.raises(wire.ApiError) as refused:
        wire.parse_create({**base, "MachineDetection": ["Always"]})
    assert refused.value.status == 400

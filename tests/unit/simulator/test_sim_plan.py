"""Each outcome's life, drawn in advance: statuses, their timing and what ends report."""

from __future__ import annotations

import random

import pytest

from dialer.simulator.config import Outcome, SimulatorConfig
from dialer.simulator.plan import draw_outcome, plan_call

CONFIG = SimulatorConfig(setup_time=1.0, ring_min=4.0, ring_max=8.0, busy_ring=2.0, talk_mean=60)


def statuses(outcome: Outcome, timeout: int = 30, time_limit: int = 3600) -> list[str]:
    return [s.status for s in plan_call(outcome, CONFIG, random.Random(1), timeout, time_limit)]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome.ANSWER, ["initiated", "ringing", "in-progress", "completed"]),
        (Outcome.NO_ANSWER, ["initiated", "ringing", "no-answer"]),
        (Outcome.BUSY, ["initiated", "ringing", "busy"]),
        (Outcome.FAILED, ["initiated", "failed"]),
        (Outcome.DROPPED, ["initiated", "ringing", "in-progress", "failed"]),
    ],
)
def test_each_outcome_has_its_statuses(outcome: Outcome, expected: list[str]) -> None:
    assert statuses(outcome) == expected


def test_no_answer_rings_for_exactly_the_requested_timeout() -> None:
    steps = plan_call(Outcome.NO_ANSWER, CONFIG, random.Random(1), 25, 3600)

    assert steps[-1].after == 25
    assert (steps[-1].duration, steps[-1].sip) == (0, 487)


def test_a_ring_longer_than_the_timeout_becomes_no_answer() -> None:
    assert statuses(Outcome.ANSWER, timeout=3) == ["initiated", "ringing", "no-answer"]


def test_talk_is_capped_by_the_time_limit_and_reported_in_whole_seconds() -> None:
    long_talk = SimulatorConfig(ring_min=1, ring_max=1, talk_mean=1e9)

    steps = plan_call(Outcome.ANSWER, long_talk, random.Random(1), 30, 45)

    assert steps[-1].after == 45
    assert (steps[-1].status, steps[-1].duration, steps[-1].sip) == ("completed", 45, 200)


def test_a_dropped_call_talks_briefly_then_fails_with_a_duration() -> None:
    steps = plan_call(Outcome.DROPPED, CONFIG, random.Random(1), 30, 3600)

    assert 1 <= steps[-1].after <= CONFIG.drop_after_max
    assert steps[-1].duration is not None
    assert steps[-1].duration >= 1


def test_outcomes_follow_the_mix_and_overrides_win() -> None:
    config = SimulatorConfig(
        outcome_mix={Outcome.ANSWER: 3, Outcome.BUSY: 1},
        outcome_overrides={"+14155550100": Outcome.FAILED},
    )
    rng = random.Random(42)

    drawn = [draw_outcome(config, rng, "+14155550199") for _ in range(4000)]

    assert set(drawn) == {Outcome.ANSWER, Outcome.BUSY}
    assert drawn.count(Outcome.ANSWER) / len(drawn) == pytest.approx(0.75, abs=0.03)
    assert draw_outcome(config, rng, "+14155550100") is Outcome.FAILED


def test_a_seed_replays_the_same_calls() -> None:
    def lives(seed: int) -> list[object]:
        rng = random.Random(seed)
        return [plan_call(draw_outcome(CONFIG, rng, "+1"), CONFIG, rng, 30, 600) for _ in range(50)]

    assert lives(5) == lives(5)
    assert lives(5) != lives(6)

"""A call's life drawn in advance: its outcome, then each status change and when it happens.

Pure: a ``random.Random`` in, a list of steps out, so a seeded simulator replays exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from dialer.simulator import wire
from dialer.simulator.config import Outcome, SimulatorConfig

# SIP final responses reported as SipResponseCode on the terminal callback.
SIP_OK = 200
SIP_BUSY = 486
SIP_TERMINATED = 487  # the caller gave up (no answer before Timeout, or canceled)
SIP_UNAVAILABLE = 503


@dataclass(frozen=True)
class Step:
    after: float  # simulated seconds after the previous step
    status: str  # Twilio wire status
    duration: int | None = None  # CallDuration, on a terminal step
    sip: int | None = None  # SipResponseCode, on a terminal step
    answered_by: str | None = None  # a detection report (Twilio's AnsweredBy); status unchanged


def draw_outcome(config: SimulatorConfig, rng: random.Random, to: str) -> Outcome:
    override = config.outcome_overrides.get(to)
    if override is not None:
        return override
    outcomes = list(config.outcome_mix)
    drawn = rng.choices(outcomes, weights=[config.outcome_mix[o] for o in outcomes])[0]
    if drawn is Outcome.ANSWER and config.machine_rate > 0 and rng.random() < config.machine_rate:
        return Outcome.MACHINE
    return drawn


def plan_call(
    outcome: Outcome,
    config: SimulatorConfig,
    rng: random.Random,
    timeout: int,
    time_limit: int,
    detection: str | None = None,
) -> list[Step]:
    """queued -> initiated -> (ringing -> ...) -> a terminal status; with ``detection``
    ("detect" or "detect_end"), who answered is reported while the call is in progress."""
    initiated = Step(config.setup_time, wire.INITIATED)
    if outcome is Outcome.FAILED:
        return [initiated, Step(config.setup_time, wire.FAILED, 0, SIP_UNAVAILABLE)]
    ringing = Step(config.setup_time, wire.RINGING)
    after = _after_ringing(outcome, config, rng, timeout, time_limit, detection)
    return [initiated, ringing, *after]


def _after_ringing(
    outcome: Outcome,
    config: SimulatorConfig,
    rng: random.Random,
    timeout: int,
    time_limit: int,
    detection: str | None,
) -> list[Step]:
    if outcome is Outcome.BUSY:
        return [Step(min(config.busy_ring, timeout), wire.BUSY, 0, SIP_BUSY)]
    no_answer = [Step(timeout, wire.NO_ANSWER, 0, SIP_TERMINATED)]
    if outcome is Outcome.NO_ANSWER:
        return no_answer
    ring = rng.uniform(config.ring_min, config.ring_max)
    if ring >= timeout:
        return no_answer
    end = wire.COMPLETED
    if outcome is Outcome.DROPPED:
        talk = rng.uniform(1.0, max(1.0, config.drop_after_max))
        end = wire.FAILED
    elif outcome is Outcome.MACHINE:  # its greeting, then it records until its limit
        talk = config.amd_beep_after + config.machine_records
    else:
        talk = rng.expovariate(1.0 / config.talk_mean) if config.talk_mean > 0 else 0.0
    talk = min(talk, float(time_limit))
    ending = Step(talk, end, talk_seconds(talk), SIP_OK)
    report = _detection(outcome, config, detection)
    if report is None or report[0] >= talk:
        return [Step(ring, wire.IN_PROGRESS), ending]
    at, answered_by = report
    detected = Step(at, wire.IN_PROGRESS, answered_by=answered_by)
    return [Step(ring, wire.IN_PROGRESS), detected, replace(ending, after=talk - at)]


def _detection(
    outcome: Outcome, config: SimulatorConfig, detection: str | None
) -> tuple[float, str] | None:
    """When after the answer detection reports, and what (Twilio's AnsweredBy words)."""
    if detection is None or outcome is Outcome.DROPPED:
        return None
    if outcome is not Outcome.MACHINE:
        return config.amd_latency, "human"
    if detection == "detect_end":
        return config.amd_beep_after, "machine_end_beep"
    return config.amd_latency, "machine_start"


def talk_seconds(talk: float) -> int:
    """CallDuration of an answered call: whole seconds, rounded up, at least one."""
    return max(1, math.ceil(talk))

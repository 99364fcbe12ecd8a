"""The simulator's settings: outcomes, timings, the CPS limit and fault injection.

Every duration here is in SIMULATED seconds: the simulator divides each real sleep by
``speed``, so with ``speed=60`` a 30-second ring takes half a real second. Call durations it
reports (``CallDuration``), ``Retry-After`` on a 429 and the CPS window are simulated too.
Timestamps it reports (``date_created``, ``Timestamp``) are the real wall clock.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from dialer.errors import InvalidInput, Problem
from dialer.simulator.wire import E164

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "simulator-token"
ACCOUNT_SID_PATTERN = re.compile(r"^AC[0-9a-fA-F]{32}$")
ACCOUNT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # Plivo auth id, Telnyx connection
# The provider wire format one simulator process speaks (``account_sid`` is the Twilio account
# SID, the Plivo auth id, or the Telnyx connection id; ``auth_token`` the Twilio or Plivo auth
# token, or the Telnyx API key, which also seeds the Telnyx webhook signing key).
DIALECTS = ("twilio", "plivo", "telnyx")


class Outcome(StrEnum):
    """How a simulated call ends, drawn from ``outcome_mix`` unless the number is overridden."""

    ANSWER = "answer"  # in-progress, then completed after the talk time
    NO_ANSWER = "no_answer"  # rings until the request's Timeout
    BUSY = "busy"  # busy after a short ring
    FAILED = "failed"  # failed without ringing
    DROPPED = "dropped"  # in-progress, then failed after a short talk: a dropped connection


DEFAULT_OUTCOME_MIX: Mapping[Outcome, float] = {
    Outcome.ANSWER: 0.6,
    Outcome.NO_ANSWER: 0.2,
    Outcome.BUSY: 0.1,
    Outcome.FAILED: 0.05,
    Outcome.DROPPED: 0.05,
}

RATE_FIELDS = ("error_rate", "lost_callback_rate", "duplicate_callback_rate", "reorder_rate")
SECONDS_FIELDS = (
    "setup_time",
    "ring_min",
    "ring_max",
    "busy_ring",
    "talk_mean",
    "drop_after_max",
    "response_delay",
    "callback_retry_delay",
)
# Fixed for the life of a simulator: POST /_sim/config cannot change these.
FIXED_FIELDS = frozenset(
    {"account_sid", "auth_token", "speed", "seed", "callback_connections", "dialect", "epoch"}
)


@dataclass(frozen=True)
class SimulatorConfig:
    dialect: str = "twilio"  # twilio | plivo | telnyx
    account_sid: str = DEFAULT_ACCOUNT_SID
    auth_token: str = DEFAULT_AUTH_TOKEN
    speed: float = 1.0  # simulated seconds per real second
    cps: float = 100.0  # creates accepted per simulated second (token bucket, burst = cps)
    outcome_mix: Mapping[Outcome, float] = field(default_factory=lambda: dict(DEFAULT_OUTCOME_MIX))
    outcome_overrides: Mapping[str, Outcome] = field(default_factory=dict)  # To -> outcome
    setup_time: float = 0.5  # queued -> initiated, and initiated -> ringing
    ring_min: float = 2.0  # an answered call rings uniform [ring_min, ring_max]
    ring_max: float = 12.0
    busy_ring: float = 1.5
    talk_mean: float = 30.0  # talk time ~ exponential with this mean, capped at TimeLimit
    drop_after_max: float = 10.0  # a dropped call talks uniform [1, drop_after_max]
    error_rate: float = 0.0  # creates answered 500/503 without creating the call
    lost_callback_rate: float = 0.0  # callbacks silently not sent
    duplicate_callback_rate: float = 0.0  # callbacks sent twice
    reorder_rate: float = 0.0  # non-terminal callbacks delivered after the next one
    response_delay: float = 0.0  # added after creating a call, before answering the create
    callback_retry_delay: float = 1.0  # a failed callback delivery is retried once after this
    callback_connections: int = 32  # keep-alive pool for callbacks, and requests in flight
    seed: int | None = None
    # The simulated instant the simulator's clock starts at. When set, the observer records
    # each call's start on that clock, per number (`call_starts`), so a test can check calling
    # windows from the provider's side.
    epoch: datetime | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise InvalidInput(problems)

    def problems(self) -> list[Problem]:
        found = _credential_problems(self) + _timing_problems(self) + _mix_problems(self)
        found += [
            Problem(name, f"must be between 0 and 1, not {getattr(self, name)}")
            for name in RATE_FIELDS
            if not 0.0 <= getattr(self, name) <= 1.0
        ]
        return found

    def updated(self, changes: Mapping[str, Any]) -> SimulatorConfig:
        """A copy with ``changes`` (JSON values, as POSTed to /_sim/config) applied."""
        problems = [
            Problem(
                name,
                "cannot be changed while running"
                if name in FIXED_FIELDS
                else "is not a simulator setting",
            )
            for name in changes
            if name in FIXED_FIELDS or name not in _FIELD_NAMES
        ]
        if problems:
            raise InvalidInput(problems)
        return config_from(changes, base=self)

    def public(self) -> dict[str, Any]:
        """As JSON, without the auth token."""
        data = dataclasses.asdict(self)
        data["auth_token"] = "***"
        data["outcome_mix"] = {str(k): v for k, v in self.outcome_mix.items()}
        data["outcome_overrides"] = {k: str(v) for k, v in self.outcome_overrides.items()}
        return data


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(SimulatorConfig))


def config_from(values: Mapping[str, Any], base: SimulatorConfig | None = None) -> SimulatorConfig:
    """Settings from JSON or the command line (numbers, outcome names as strings) applied to
    ``base`` (the defaults when None); ``InvalidInput`` naming every bad value at once."""
    typed: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, value in values.items():
        try:
            typed[name] = _coerce_one(name, value)
        except (TypeError, ValueError) as exc:
            problems.append(Problem(name, str(exc)))
    try:
        config = dataclasses.replace(base or SimulatorConfig(), **typed)
    except InvalidInput as exc:
        problems += exc.problems
    if problems:
        raise InvalidInput(problems)
    return config


def _coerce_one(name: str, value: Any) -> Any:
    if name == "epoch" and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise TypeError("epoch needs a time zone, e.g. 2026-03-03T15:00:00Z")
        return moment.astimezone(UTC)
    if name == "outcome_mix":
        return {Outcome(key): _number(weight) for key, weight in _mapping(value).items()}
    if name == "outcome_overrides":
        return {str(number): Outcome(outcome) for number, outcome in _mapping(value).items()}
    if name in RATE_FIELDS or name in SECONDS_FIELDS or name in ("cps", "speed"):
        return _number(value)
    whole = name in ("callback_connections", "seed") and value is not None
    if whole and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"must be a whole number, not {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"must be a number, not {value!r}")
    return float(value)


def _mapping(value: Any) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"must be an object, not {value!r}")
    return value


def _credential_problems(config: SimulatorConfig) -> list[Problem]:
    problems = []
    if config.dialect not in DIALECTS:
        problems.append(Problem("dialect", f"must be one of {', '.join(DIALECTS)}"))
    if config.dialect == "twilio" and not ACCOUNT_SID_PATTERN.match(config.account_sid):
        problems.append(Problem("account_sid", "must be 'AC' followed by 32 hex digits"))
    elif config.dialect != "twilio" and not ACCOUNT_ID_PATTERN.match(config.account_sid):
        problems.append(Problem("account_sid", "must be 1 to 64 letters, digits, - or _"))
    if not config.auth_token:
        problems.append(Problem("auth_token", "must not be empty"))
    return problems


def _timing_problems(config: SimulatorConfig) -> list[Problem]:
    problems = [
        Problem(name, f"must be zero or more seconds, not {getattr(config, name)}")
        for name in SECONDS_FIELDS
        if not getattr(config, name) >= 0.0
    ]
    if not config.speed > 0:
        problems.append(Problem("speed", f"must be more than 0, not {config.speed}"))
    if not config.cps > 0:
        problems.append(Problem("cps", f"must be more than 0, not {config.cps}"))
    if config.ring_min > config.ring_max:
        problems.append(Problem("ring_min", "must not be more than ring_max"))
    if config.callback_connections < 1:
        problems.append(Problem("callback_connections", "must be at least 1"))
    return problems


def _mix_problems(config: SimulatorConfig) -> list[Problem]:
    problems = [
        Problem(f"outcome_mix.{key}", f"must be zero or more, not {weight}")
        for key, weight in config.outcome_mix.items()
        if not weight >= 0
    ]
    if not problems and sum(config.outcome_mix.values()) <= 0:
        problems.append(Problem("outcome_mix", "needs at least one outcome with weight above 0"))
    problems += [
        Problem(f"outcome_overrides.{number}", "must be an E.164 number like +14155550100")
        for number in config.outcome_overrides
        if not E164.match(number)
    ]
    return problems

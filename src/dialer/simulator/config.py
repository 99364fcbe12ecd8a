"""The simulator's settings: outcomes, timings, the CPS limit and fault injection; for messages,
the SMS outcomes, the per-sender rate, opt-outs and replies, and the SMTP sink's refusals.

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

from dialer.domain.costs import CURRENCY
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
    MACHINE = "machine"  # in-progress, answered by an answering machine (see machines.py)


DEFAULT_OUTCOME_MIX: Mapping[Outcome, float] = {
    Outcome.ANSWER: 0.6,
    Outcome.NO_ANSWER: 0.2,
    Outcome.BUSY: 0.1,
    Outcome.FAILED: 0.05,
    Outcome.DROPPED: 0.05,
}


class SmsOutcome(StrEnum):
    """How a simulated SMS ends, drawn from ``sms_outcome_mix`` unless the number is overridden."""

    DELIVERED = "delivered"  # queued, sent, delivered
    UNDELIVERED = "undelivered"  # queued, sent, undelivered: the carrier or the handset refused
    FAILED = "failed"  # queued, failed: it never left the provider


DEFAULT_SMS_MIX: Mapping[SmsOutcome, float] = {
    SmsOutcome.DELIVERED: 0.9,
    SmsOutcome.UNDELIVERED: 0.06,
    SmsOutcome.FAILED: 0.04,
}

RATE_FIELDS = (
    "error_rate",
    "lost_callback_rate",
    "duplicate_callback_rate",
    "reorder_rate",
    "sms_throttle_rate",
    "sms_stop_rate",
    "machine_rate",
)
SECONDS_FIELDS = (
    "setup_time",
    "ring_min",
    "ring_max",
    "busy_ring",
    "talk_mean",
    "drop_after_max",
    "response_delay",
    "callback_retry_delay",
    "sms_delay_min",
    "sms_delay_max",
    "sms_reply_delay",
    "amd_latency",
    "amd_beep_after",
    "voicemail_seconds",
    "machine_records",
    "price_delay",
)
STRING_LIST_FIELDS = ("sms_opted_out", "email_bounce_patterns", "email_unsubscribed")
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
    # Answering machines: the share of answered calls a machine answers (beside "machine" in
    # outcome_mix and outcome_overrides). With MachineDetection asked for, who answered is
    # reported amd_latency after the answer; a machine's greeting ends (the beep) amd_beep_after
    # the answer, which DetectMessageEnd waits for; the machine then records machine_records
    # seconds unless the call ends first. A voicemail (a Say or Play given to the live call)
    # lasts voicemail_seconds, then the call ends.
    machine_rate: float = 0.0
    amd_latency: float = 3.0
    amd_beep_after: float = 8.0
    machine_records: float = 30.0
    voicemail_seconds: float = 5.0
    error_rate: float = 0.0  # creates answered 500/503 without creating the call
    lost_callback_rate: float = 0.0  # callbacks silently not sent
    duplicate_callback_rate: float = 0.0  # callbacks sent twice
    reorder_rate: float = 0.0  # non-terminal callbacks delivered after the next one
    response_delay: float = 0.0  # added after creating a call, before answering the create
    # What a call costs, as Twilio prices it: each started minute of talk at price_per_minute
    # (in price_unit), nothing for a call not answered. The price shows on the Call resource
    # price_delay after the call ended (null before), at the delay in force when it is read.
    price_per_minute: float = 0.013
    price_unit: str = "USD"
    price_delay: float = 30.0
    callback_retry_delay: float = 1.0  # a failed callback delivery is retried once after this
    callback_connections: int = 32  # keep-alive pool for callbacks, and requests in flight
    seed: int | None = None
    # The simulated instant the simulator's clock starts at. When set, the observer records
    # each call's start on that clock, per number (`call_starts`), so a test can check calling
    # windows from the provider's side.
    epoch: datetime | None = None
    # SMS on Twilio's Messages API (sms.py); its rate and delays are simulated like the calls'.
    sms_outcome_mix: Mapping[SmsOutcome, float] = field(
        default_factory=lambda: dict(DEFAULT_SMS_MIX)
    )
    sms_outcome_overrides: Mapping[str, SmsOutcome] = field(default_factory=dict)  # To -> outcome
    sms_delay_min: float = 1.0  # accepted -> final status, uniform [min, max]; "sent" halfway
    sms_delay_max: float = 5.0
    sms_mps: float = 1.0  # accepted per simulated second from one sender: a long code's 1 MPS
    sms_throttle_rate: float = 0.0  # creates answered 429 whatever the sender's rate
    sms_opted_out: tuple[str, ...] = ()  # answered 21610 from every sender; START does not lift
    sms_replies: Mapping[str, str] = field(default_factory=dict)  # To -> what it texts back
    sms_stop_rate: float = 0.0  # delivered messages whose recipient texts back STOP
    sms_reply_delay: float = 2.0  # from delivery to the reply
    sms_inbound_url: str | None = None  # where replies are POSTed (Twilio sets it per number)
    # Email: recipients the SMTP sink refuses at RCPT with 550 (shell patterns, any case), and
    # the addresses a test lists as unsubscribed (mail to them is counted, not refused).
    email_bounce_patterns: tuple[str, ...] = ("bounce*@*",)
    email_unsubscribed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise InvalidInput(problems)

    def problems(self) -> list[Problem]:
        found = _credential_problems(self) + _timing_problems(self) + _mix_problems(self)
        found += _sms_problems(self)
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
        data["sms_outcome_mix"] = {str(k): v for k, v in self.sms_outcome_mix.items()}
        data["sms_outcome_overrides"] = {k: str(v) for k, v in self.sms_outcome_overrides.items()}
        data["epoch"] = None if self.epoch is None else self.epoch.isoformat()
        return data


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(SimulatorConfig))


@dataclass(frozen=True)
class SmtpSinkOptions:
    """How the SMTP sink listens, fixed for its life (what it refuses is ``email_*`` above)."""

    host: str = "127.0.0.1"
    port: int = 0  # 0 picks a free port
    starttls: bool = False  # offer STARTTLS with a self-signed certificate made at start
    username: str | None = None  # with a password: AUTH PLAIN or LOGIN before MAIL FROM
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append(Problem("smtp_port", f"must be 0 to 65535, not {self.port}"))
        if (self.username is None) != (self.password is None):
            problems.append(Problem("smtp_username", "needs a password, and a password a name"))
        if problems:
            raise InvalidInput(problems)

    @property
    def requires_auth(self) -> bool:
        return self.username is not None


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
    if name in RATE_FIELDS or name in SECONDS_FIELDS or name in _NUMBERS:
        return _number(value)
    if name == "price_unit":
        return _text(value)
    if name.startswith("sms_"):
        return _coerce_sms(name, value)
    if name in STRING_LIST_FIELDS:
        return _strings(value)
    whole = name in ("callback_connections", "seed") and value is not None
    if whole and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"must be a whole number, not {value!r}")
    return value


_NUMBERS = ("cps", "speed", "sms_mps", "price_per_minute")


def _coerce_sms(name: str, value: Any) -> Any:
    if name == "sms_outcome_mix":
        return {SmsOutcome(key): _number(weight) for key, weight in _mapping(value).items()}
    if name == "sms_outcome_overrides":
        return {str(number): SmsOutcome(outcome) for number, outcome in _mapping(value).items()}
    if name == "sms_replies":
        return {str(number): _text(body) for number, body in _mapping(value).items()}
    if name == "sms_opted_out":
        return _strings(value)
    if name == "sms_inbound_url" and value is not None:
        return _text(value)
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise TypeError(f"must be a list of strings, not {value!r}")
    return tuple(_text(item) for item in value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, not {value!r}")
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
    return problems + _price_problems(config)


def _price_problems(config: SimulatorConfig) -> list[Problem]:
    problems = []
    if not config.price_per_minute >= 0:
        problems.append(
            Problem("price_per_minute", f"must be 0 or more, not {config.price_per_minute}")
        )
    if not CURRENCY.match(config.price_unit):
        problems.append(Problem("price_unit", "must be an ISO 4217 code like USD"))
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


def _sms_problems(config: SimulatorConfig) -> list[Problem]:
    problems = [
        Problem(f"sms_outcome_mix.{key}", f"must be zero or more, not {weight}")
        for key, weight in config.sms_outcome_mix.items()
        if not weight >= 0
    ]
    if not problems and sum(config.sms_outcome_mix.values()) <= 0:
        problems.append(Problem("sms_outcome_mix", "needs one outcome with weight above 0"))
    if not config.sms_mps > 0:
        problems.append(Problem("sms_mps", f"must be more than 0, not {config.sms_mps}"))
    if config.sms_delay_min > config.sms_delay_max:
        problems.append(Problem("sms_delay_min", "must not be more than sms_delay_max"))
    url = config.sms_inbound_url
    if url is not None and not url.startswith(("http://", "https://")):
        problems.append(Problem("sms_inbound_url", "must be an http:// or https:// URL"))
    return problems + _sms_number_problems(config)


def _sms_number_problems(config: SimulatorConfig) -> list[Problem]:
    named = [
        *(("sms_outcome_overrides", number) for number in config.sms_outcome_overrides),
        *(("sms_opted_out", number) for number in config.sms_opted_out),
        *(("sms_replies", number) for number in config.sms_replies),
    ]
    problems = [
        Problem(f"{setting}.{number}", "must be an E.164 number like +14155550100")
        for setting, number in named
        if not E164.match(number)
    ]
    problems += [
        Problem(f"sms_replies.{number}", "must not be empty")
        for number, body in config.sms_replies.items()
        if not body.strip()
    ]
    return problems

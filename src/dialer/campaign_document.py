"""The campaign document: a campaign's settings as a YAML campaign file, the API's JSON and
the store's column all give them; domain settings out, with errors that name the key.

The store keeps the same form, so a campaign read back is the campaign written.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import UTC, date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dialer.campaign_hooks import (
    BudgetSpec,
    PreDialSpec,
    budget_document,
    budget_of,
    pre_dial_document,
    pre_dial_hook,
)
from dialer.campaign_machines import (
    MachineDetectionSpec,
    machine_detection,
    machine_detection_document,
)
from dialer.campaign_steps import (
    CallerId,
    RateSpec,
    Steps,
    Strict,
    message_steps,
    steps_document,
)
from dialer.domain.durations import format_duration, parse_duration
from dialer.domain.model import CampaignSettings, Rate
from dialer.domain.phone import InvalidNumber, normalize
from dialer.domain.retry import DelayRule, ExponentialBackoff, FixedDelays, Outcome, RetryPolicy
from dialer.domain.urls import check_http_url
from dialer.domain.window import (
    DAY_NAMES,
    DEFAULT_END,
    DEFAULT_START,
    CallingWindow,
    format_range,
    parse_clock,
    parse_range,
)
from dialer.errors import InvalidInput, Problem
from dialer.yaml_documents import load_strict_yaml

Seconds = Annotated[int, BeforeValidator(parse_duration)]

MAX_FILE_BYTES = 1 << 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    # A NUL cannot be stored in PostgreSQL text, and other control characters only hide
    # what a name says: refuse them here, as bad input, before anything reaches storage.
    if _CONTROL.search(value):
        raise ValueError("cannot contain control characters (NUL, line breaks, tabs ...)")
    return value


Text = Annotated[str, AfterValidator(_no_control_characters)]
AnswerUrl = Annotated[str, AfterValidator(check_http_url)]


DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _every_day() -> list[DayName]:
    return ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


Ranges = list[str]


class WindowSpec(Strict):
    """Either one daily range on chosen days (``days``, ``start``, ``end``), or ranges per
    weekday (``mon: ["09:00-12:00", "13:00-20:00"]`` ...); ``closed`` lists local dates
    (holidays, blackout days) when nobody is called."""

    days: list[DayName] | None = Field(default=None, min_length=1)
    start: str | None = None
    end: str | None = None
    mon: Ranges | None = None
    tue: Ranges | None = None
    wed: Ranges | None = None
    thu: Ranges | None = None
    fri: Ranges | None = None
    sat: Ranges | None = None
    sun: Ranges | None = None
    closed: list[date] = Field(default_factory=list)

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None:
            parse_clock(value)
        return value

    @field_validator("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    @classmethod
    def _ranges(cls, value: Ranges | None) -> Ranges | None:
        for text in value or []:
            parse_range(text)
        return value

    @model_validator(mode="after")
    def _one_form(self) -> WindowSpec:
        per_day = any(getattr(self, day) is not None for day in DAY_NAMES)
        daily = any(v is not None for v in (self.days, self.start, self.end))
        if per_day and daily:
            raise ValueError("use either days/start/end or per-day ranges (mon: [...]), not both")
        if not per_day:
            start = parse_clock(self.start or DEFAULT_START)
            end = parse_clock(self.end or DEFAULT_END)
            if start >= end:
                raise ValueError(f"start {self.start} must be before end {self.end}")
        self.window()  # overlapping ranges are refused here
        return self

    def window(self) -> CallingWindow:
        closed = frozenset(self.closed)
        if any(getattr(self, day) is not None for day in DAY_NAMES):
            weekly = tuple(
                tuple(sorted(parse_range(t) for t in getattr(self, day) or [])) for day in DAY_NAMES
            )
            return CallingWindow(weekly, closed)
        days = [DAY_NAMES.index(d) for d in self.days or _every_day()]
        start = parse_clock(self.start or DEFAULT_START)
        end = parse_clock(self.end or DEFAULT_END)
        return replace(CallingWindow.daily(days, start, end), closed=closed)


class ExponentialSpec(Strict):
    base: Seconds
    factor: float = Field(default=2.0, ge=1.0, le=10.0)
    max: Seconds = 86400
    jitter: float = Field(default=0.1, ge=0.0, le=1.0)


class ExponentialRule(Strict):
    exponential: ExponentialSpec


RuleSpec = list[Seconds] | ExponentialRule


class RetrySpec(Strict):
    max_attempts: int = Field(default=1, ge=1, le=50, strict=True)
    no_answer: RuleSpec | None = None
    busy: RuleSpec | None = None
    failed: RuleSpec | None = None
    disconnected: RuleSpec | None = None
    machine: RuleSpec | None = None  # absent: a machine is retried by the no_answer rule
    unknown: RuleSpec | None = None
    best_time: bool = Field(default=True, strict=True)


class SegmentSpec(Strict):
    tags: list[Text] = Field(min_length=1)


class CampaignSpec(Strict):
    name: Text = Field(min_length=1, max_length=200)
    caller_id: Text
    max_concurrency: int = Field(default=100, ge=1, le=1_000_000, strict=True)
    rate: RateSpec | None = None
    window: WindowSpec = Field(default_factory=WindowSpec)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    priority: int = Field(default=5, ge=0, le=100, strict=True)
    ring_timeout: Seconds = Field(default=30, ge=5, le=600)
    max_call_duration: Seconds = Field(default=480, ge=10, le=14400)
    default_timezone: Text = "America/New_York"
    answer_url: AnswerUrl | None = None
    machine_detection: MachineDetectionSpec | None = None
    ramp_up: Seconds = Field(default=10, ge=0, le=3600)
    weight: int = Field(default=1, ge=1, le=1000, strict=True)
    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None
    segment: SegmentSpec | None = None
    # a caller-ID pool, rotated per attempt; local_presence prefers the contact's area
    caller_ids: list[CallerId] = Field(default_factory=list, max_length=10_000)
    local_presence: bool = Field(default=False, strict=True)
    steps: Steps | None = None  # without steps: the call step alone
    pre_dial: PreDialSpec | None = None
    budget: BudgetSpec | None = None

    @model_validator(mode="after")
    def _pool_for_local_presence(self) -> CampaignSpec:
        if self.local_presence and not self.caller_ids:
            raise ValueError("local_presence needs a pool of caller_ids to choose from")
        return self

    @model_validator(mode="after")
    def _dates_ordered(self) -> CampaignSpec:
        if self.start_at and self.end_at and self.start_at >= self.end_at:
            raise ValueError("end_at must be after start_at")
        return self

    @field_validator("caller_id")
    @classmethod
    def _e164(cls, value: str) -> str:
        try:
            return normalize(value)
        except InvalidNumber as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


def _rule(spec: RuleSpec | None) -> DelayRule | None:
    if spec is None:
        return None
    if isinstance(spec, ExponentialRule):
        e = spec.exponential
        return ExponentialBackoff(e.base, e.factor, e.max, e.jitter)
    return FixedDelays(tuple(spec))


def _to_settings(spec: CampaignSpec) -> CampaignSettings:
    rules = {o: r for o in Outcome if (r := _rule(getattr(spec.retry, o.value))) is not None}
    rate = per_minute = per_hour = None
    if spec.rate is not None:
        if spec.rate.per_second is not None:
            burst = spec.rate.burst or max(1, math.ceil(spec.rate.per_second))
            rate = Rate(spec.rate.per_second, burst)
        if spec.rate.per_minute is not None:
            per_minute = Rate.per_period(spec.rate.per_minute, 60)
        if spec.rate.per_hour is not None:
            per_hour = Rate.per_period(spec.rate.per_hour, 3600)
    return CampaignSettings(
        name=spec.name,
        caller_id=spec.caller_id,
        max_concurrency=spec.max_concurrency,
        rate=rate,
        rate_per_minute=per_minute,
        rate_per_hour=per_hour,
        window=spec.window.window(),
        retry=RetryPolicy(spec.retry.max_attempts, rules, spec.retry.best_time),
        priority=spec.priority,
        ring_timeout=spec.ring_timeout,
        max_call_duration=spec.max_call_duration,
        default_timezone=spec.default_timezone,
        answer_url=spec.answer_url,
        machine_detection=machine_detection(spec.machine_detection),
        start_at=spec.start_at.astimezone(UTC) if spec.start_at else None,
        end_at=spec.end_at.astimezone(UTC) if spec.end_at else None,
        tags=tuple(spec.segment.tags) if spec.segment else (),
        ramp_up=spec.ramp_up,
        weight=spec.weight,
        caller_ids=tuple(spec.caller_ids),
        local_presence=spec.local_presence,
        steps=message_steps(spec.steps),
        pre_dial=pre_dial_hook(spec.pre_dial),
        budget=budget_of(spec.budget),
    )


_LIST_BRANCH = "list[function-before[parse_duration(), int]]"


def _wrong_union_branch(loc: tuple[int | str, ...], data: Any) -> bool:
    """A retry rule is a list or an ``exponential`` mapping: report only the errors of the
    branch whose shape the operator wrote."""
    for marker, wants_mapping in (("ExponentialRule", True), (_LIST_BRANCH, False)):
        if marker in loc:
            rule = _value_at(data, loc[: loc.index(marker)])
            return isinstance(rule, dict) is not wants_mapping
    return False


def _value_at(data: Any, path: tuple[int | str, ...]) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in {_LIST_BRANCH, "ExponentialRule"}:
            continue  # pydantic's name for a union branch, not a key the operator wrote
        else:
            text += f".{part}" if text else str(part)
    return text or "(campaign)"


def settings_from_mapping(data: Any) -> CampaignSettings:
    """Validate a parsed campaign document; raise InvalidInput naming each bad key."""
    if not isinstance(data, dict):
        raise InvalidInput(Problem("(campaign)", "the campaign file must be a mapping of keys"))
    try:
        return _to_settings(CampaignSpec.model_validate(data))
    except ValidationError as exc:
        problems: dict[str, Problem] = {}
        for err in exc.errors():
            if _wrong_union_branch(err["loc"], data):
                continue
            where = _location(err["loc"])
            problems.setdefault(where, Problem(where, err["msg"].removeprefix("Value error, ")))
        raise InvalidInput(list(problems.values())) from exc


def _check_size(text: str) -> None:
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise InvalidInput(Problem("(campaign)", _TOO_LARGE))


_TOO_LARGE = f"the campaign file is larger than 1 MiB ({MAX_FILE_BYTES} bytes)"


def settings_from_yaml(text: str) -> CampaignSettings:
    _check_size(text)
    return settings_from_mapping(load_strict_yaml(text))


def read_campaign_file(path: Path) -> CampaignSettings:
    """Read and validate a campaign file, reading no more than the size limit allows."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(Problem(str(path), f"cannot be read: {exc.strerror}")) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidInput(Problem("(campaign)", _TOO_LARGE))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start + 1}"
        raise InvalidInput(Problem(where, "the campaign file is not UTF-8 text")) from exc
    return settings_from_yaml(text)


def _rule_document(rule: DelayRule) -> Any:
    if isinstance(rule, FixedDelays):
        return [format_duration(d) for d in rule.delays]
    return {
        "exponential": {
            "base": rule.base,
            "factor": rule.factor,
            "max": rule.maximum,
            "jitter": rule.jitter,
        }
    }


def _window_document(window: CallingWindow) -> dict[str, Any]:
    doc: dict[str, Any] = {
        day: [format_range(r) for r in ranges]
        for day, ranges in zip(DAY_NAMES, window.weekly, strict=True)
        if ranges
    }
    if not doc:  # a window that never opens: every day listed, empty
        doc = {day: [] for day in DAY_NAMES}
    if window.closed:
        doc["closed"] = [d.isoformat() for d in sorted(window.closed)]
    return doc


def settings_to_mapping(settings: CampaignSettings) -> dict[str, Any]:
    """The normalised document form (what ``settings_from_mapping`` reads back unchanged)."""
    doc: dict[str, Any] = {
        "name": settings.name,
        "caller_id": settings.caller_id,
        "max_concurrency": settings.max_concurrency,
        "window": _window_document(settings.window),
        "retry": {"max_attempts": settings.retry.max_attempts}
        | {o.value: _rule_document(r) for o, r in settings.retry.rules.items()}
        | ({} if settings.retry.best_time else {"best_time": False}),
        "priority": settings.priority,
        "ring_timeout": settings.ring_timeout,
        "max_call_duration": settings.max_call_duration,
        "default_timezone": settings.default_timezone,
        "ramp_up": settings.ramp_up,
        "weight": settings.weight,
    }
    rate: dict[str, Any] = {}
    if settings.rate is not None:
        rate |= {"per_second": settings.rate.per_second, "burst": settings.rate.burst}
    if settings.rate_per_minute is not None:
        rate["per_minute"] = round(settings.rate_per_minute.per_second * 60)
    if settings.rate_per_hour is not None:
        rate["per_hour"] = round(settings.rate_per_hour.per_second * 3600)
    if rate:
        doc["rate"] = rate
    if settings.answer_url is not None:
        doc["answer_url"] = settings.answer_url
    if settings.machine_detection is not None:
        doc["machine_detection"] = machine_detection_document(settings.machine_detection)
    for key in ("start_at", "end_at"):
        if (moment := getattr(settings, key)) is not None:
            doc[key] = moment.isoformat()
    if settings.tags:
        doc["segment"] = {"tags": list(settings.tags)}
    if settings.caller_ids:
        doc["caller_ids"] = list(settings.caller_ids)
        doc["local_presence"] = settings.local_presence
    if settings.steps:
        doc["steps"] = steps_document(settings.steps)
    if settings.pre_dial is not None:
        doc["pre_dial"] = pre_dial_document(settings.pre_dial)
    if settings.budget is not None:
        doc["budget"] = budget_document(settings.budget)
    return doc

"""The campaign file's ``steps``: the call step, then SMS and email steps, each with the
outcomes it runs after (``when``).

    steps:
      - call: {}
      - sms: {when: [no_answer, busy], from: "+14155550100", body: "Hi {{ name }} ...",
              rate: {per_second: 20}}
      - email: {when: [no_answer], from: "Acme <reminders@acme.example>",
                subject: "...", body: "...", html: "..."}

The parts of the campaign document that steps share with the rest of it (the strict model,
start rates, E.164 numbers) live here too, since ``campaign_document`` builds on this module.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from dialer.domain.channels import CALL_OUTCOMES, WHEN_WORDS, Channel, MessageStep
from dialer.domain.durations import parse_duration
from dialer.domain.model import Rate
from dialer.domain.phone import InvalidNumber, normalize
from dialer.domain.templates import MessageTemplate
from dialer.errors import InvalidInput

MAX_STEPS = 20  # the call step included


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateSpec(Strict):
    """Start rates: per second (with ``burst`` back to back), per minute, per hour — each a
    sustained limit, any combination."""

    per_second: float | None = Field(default=None, gt=0, le=10000)
    burst: int | None = Field(default=None, ge=1, le=100000, strict=True)
    per_minute: int | None = Field(default=None, ge=1, le=1_000_000, strict=True)
    per_hour: int | None = Field(default=None, ge=1, le=10_000_000, strict=True)

    @model_validator(mode="after")
    def _something(self) -> RateSpec:
        if self.per_second is None and self.per_minute is None and self.per_hour is None:
            raise ValueError("give per_second, per_minute or per_hour")
        if self.burst is not None and self.per_second is None:
            raise ValueError("burst goes with per_second")
        return self


class StepRateSpec(RateSpec):
    """A step's own send rate: one of per_second (with burst), per_minute or per_hour."""

    @model_validator(mode="after")
    def _one(self) -> StepRateSpec:
        given = [v for v in (self.per_second, self.per_minute, self.per_hour) if v is not None]
        if len(given) > 1:
            raise ValueError("a step takes one rate: per_second, per_minute or per_hour")
        return self

    def rate(self) -> Rate:
        if self.per_second is not None:
            return Rate(self.per_second, self.burst or max(1, math.ceil(self.per_second)))
        if self.per_minute is not None:
            return Rate.per_period(self.per_minute, 60)
        assert self.per_hour is not None  # RateSpec asks for one of the three
        return Rate.per_period(self.per_hour, 3600)


def _e164_number(value: str) -> str:
    try:
        return normalize(value)
    except InvalidNumber as exc:
        raise ValueError(str(exc)) from exc


CallerId = Annotated[str, AfterValidator(_e164_number)]
SHORT_CODE = re.compile(r"[0-9]{5,6}")  # a carrier short code: not E.164, a sender all the same


def _sms_sender(value: str) -> str:
    return value if SHORT_CODE.fullmatch(value) else _e164_number(value)


SmsSender = Annotated[str, AfterValidator(_sms_sender)]

# Line breaks and tabs belong in a message; other control characters only hide what it says,
# and a NUL cannot be stored in PostgreSQL text.
_HIDDEN_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _template(source: str, *, html: bool = False) -> str:
    if _HIDDEN_CONTROL.search(source):
        raise ValueError("cannot contain control characters other than line breaks and tabs")
    try:
        MessageTemplate.parse(source, html=html)
    except InvalidInput as exc:  # pydantic names the field; the problem says the rest
        raise ValueError(exc.problems[0].message) from exc
    return source


def _html_template(source: str) -> str:
    return _template(source, html=True)


def _one_line_template(source: str) -> str:
    # A line break in a subject would end the header and start another.
    if _ANY_CONTROL.search(source):
        raise ValueError("cannot contain control characters (line breaks, tabs ...)")
    return _template(source)


TextTemplate = Annotated[str, Field(min_length=1), AfterValidator(_template)]
HtmlTemplate = Annotated[str, Field(min_length=1), AfterValidator(_html_template)]
SubjectTemplate = Annotated[
    str, Field(min_length=1, max_length=998), AfterValidator(_one_line_template)
]


def _when_word(word: str) -> str:
    if word not in WHEN_WORDS:
        raise ValueError(f"unknown outcome {word!r}: use one of {', '.join(sorted(WHEN_WORDS))}")
    return word


WhenWord = Annotated[str, AfterValidator(_when_word)]
MAX_STEP_DELAY = 30 * 86_400  # a month: a step later than that is a new campaign
# How long after the previous step the message is due ("1h", "2d", seconds); its window and
# rate still apply from then on.
StepDelay = Annotated[int, BeforeValidator(parse_duration), Field(ge=0, le=MAX_STEP_DELAY)]


def _email_sender(value: str) -> str:
    """An address, with a display name or not: ``Acme <reminders@acme.example>``. Kept as
    written; the domain is not looked up."""
    if _ANY_CONTROL.search(value):
        raise ValueError("cannot contain control characters")
    try:
        validate_email(value, allow_display_name=True, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not an email address: {exc}") from exc
    return value


EmailSender = Annotated[str, Field(max_length=998), AfterValidator(_email_sender)]


class CallStepSpec(Strict):
    """The call step: the campaign's voice settings, nothing of its own yet."""


class SmsStepSpec(Strict):
    when: list[WhenWord] = Field(default_factory=list, max_length=len(WHEN_WORDS))
    # E.164 or a short code; None: the campaign's caller ID
    sender: SmsSender | None = Field(default=None, alias="from")
    body: TextTemplate
    rate: StepRateSpec | None = None
    after: StepDelay = 0


class EmailStepSpec(Strict):
    when: list[WhenWord] = Field(default_factory=list, max_length=len(WHEN_WORDS))
    sender: EmailSender = Field(alias="from")
    subject: SubjectTemplate
    body: TextTemplate
    html: HtmlTemplate | None = None
    rate: StepRateSpec | None = None
    after: StepDelay = 0


class StepSpec(Strict):
    call: CallStepSpec | None = None
    sms: SmsStepSpec | None = None
    email: EmailStepSpec | None = None

    @model_validator(mode="after")
    def _one_channel(self) -> StepSpec:
        if len(self.channels()) != 1:
            raise ValueError("a step is one of call: {}, sms: {...} or email: {...}")
        return self

    def channels(self) -> list[Channel]:
        return [c for c in Channel if getattr(self, c.value) is not None]

    @property
    def channel(self) -> Channel:
        return self.channels()[0]


_CALL_FIRST = (
    "the first step must be call: {} (campaigns that only send messages are not supported yet)"
)
_NOT_BEFORE = "{!r} names an {} step, and none comes before this one"


def _in_order(steps: list[StepSpec]) -> list[StepSpec]:
    """The call step comes first and only first; ``sms.*`` and ``email.*`` words name a
    channel of an earlier step. Each problem is reported at its own place in the list."""
    problems = _order_problems(steps)
    if problems:
        raise ValidationError.from_exception_data("steps", problems)
    return steps


def _order_problems(steps: list[StepSpec]) -> list[InitErrorDetails]:
    if not steps:
        return [_problem((), "list the call step first: steps: [{call: {}}, ...]")]
    problems = []
    if steps[0].channel is not Channel.CALL:
        problems.append(_problem((0,), _CALL_FIRST))
    seen: set[str] = set()  # the channels of the steps before
    for number, step in enumerate(steps):
        if step.channel is Channel.CALL and Channel.CALL in seen:
            problems.append(_problem((number, "call"), "a campaign has one call step, the first"))
        problems += _when_problems(number, step, seen)
        seen.add(step.channel.value)
    return problems


def _when_problems(number: int, step: StepSpec, seen: set[str]) -> list[InitErrorDetails]:
    spec = step.sms or step.email
    words = spec.when if spec is not None else []
    return [
        _problem((number, step.channel.value, "when", index), _NOT_BEFORE.format(word, channel))
        for index, word in enumerate(words)
        if word not in CALL_OUTCOMES and (channel := word.partition(".")[0]) not in seen
    ]


def _problem(loc: tuple[int | str, ...], message: str) -> InitErrorDetails:
    # A custom error's message is a template: braces in it stay as written only with no context.
    return InitErrorDetails(type=PydanticCustomError("steps", message), loc=loc, input=None)


Steps = Annotated[list[StepSpec], Field(max_length=MAX_STEPS), AfterValidator(_in_order)]


def message_steps(steps: list[StepSpec] | None) -> tuple[MessageStep, ...]:
    """The domain's message steps (the call step is implied, so it is left out)."""
    return tuple(m for step in steps or () if (m := _message_step(step)) is not None)


def _message_step(step: StepSpec) -> MessageStep | None:
    if step.sms is not None:
        sms = step.sms
        rate = sms.rate.rate() if sms.rate else None
        return MessageStep(
            Channel.SMS, sms.body, frozenset(sms.when), sms.sender, rate=rate, after=sms.after
        )
    if step.email is not None:
        email = step.email
        rate = email.rate.rate() if email.rate else None
        when = frozenset(email.when)
        return MessageStep(
            Channel.EMAIL,
            email.body,
            when,
            email.sender,
            email.subject,
            email.html,
            rate,
            after=email.after,
        )
    return None


def steps_document(steps: tuple[MessageStep, ...]) -> list[dict[str, Any]]:
    """The stored form of the message steps, the call step first (what ``Steps`` reads)."""
    return [{"call": {}}, *({step.channel.value: _step_document(step)} for step in steps)]


def _step_document(step: MessageStep) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if step.when:
        doc["when"] = sorted(step.when)
    if step.sender is not None:
        doc["from"] = step.sender
    if step.subject is not None:
        doc["subject"] = step.subject
    doc["body"] = step.body
    if step.html is not None:
        doc["html"] = step.html
    if step.rate is not None:
        doc["rate"] = {"per_second": step.rate.per_second, "burst": step.rate.burst}
    if step.after:
        doc["after"] = step.after
    return doc

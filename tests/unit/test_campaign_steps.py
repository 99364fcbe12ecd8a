"""The campaign file's ``steps``: the design's example, every option, errors that name their
place in the list, and the round trip through the stored form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.campaign_document import settings_from_mapping, settings_from_yaml, settings_to_mapping
from dialer.campaign_steps import MAX_STEPS
from dialer.domain.channels import CALL_OUTCOMES, MESSAGE_OUTCOMES, Channel, MessageStep
from dialer.domain.model import CampaignSettings, Rate
from dialer.errors import InvalidInput

DESIGN_EXAMPLE = """\
name: spring-reminders
caller_id: "+14155550100"
steps:
  - call: {}                         # the campaign's voice settings as above
  - sms:
      when: [no_answer, busy, unreachable]
      from: "+14155550100"           # default: caller_id
      body: "Hi {{ name }}, we missed you. Reply STOP to opt out."
      rate: {per_second: 20}
  - email:
      when: [no_answer]
      from: "Acme <reminders@acme.example>"
      subject: "We tried to reach you"
      body: "Hello {{ name }}, ..."
"""

MINIMAL: dict[str, Any] = {"name": "x", "caller_id": "+14155550100"}
CALL: dict[str, Any] = {"call": {}}
SMS: dict[str, Any] = {"sms": {"body": "Hi {{ name }}"}}
EMAIL: dict[str, Any] = {
    "email": {"from": "reminders@acme.example", "subject": "Hello", "body": "Hi {{ name }}"}
}


def with_steps(*steps: Any) -> dict[str, Any]:
    return MINIMAL | {"steps": list(steps)}


def steps_of(*steps: Any) -> tuple[MessageStep, ...]:
    return settings_from_mapping(with_steps(*steps)).steps


def sms(**keys: Any) -> dict[str, Any]:
    return {"sms": SMS["sms"] | keys}


def email(**keys: Any) -> dict[str, Any]:
    return {"email": EMAIL["email"] | keys}


def problems_of(data: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        settings_from_mapping(data)
    found = {p.location: p.message for p in info.value.problems}
    assert len(found) == len(info.value.problems), "one problem per location"
    return found


def only_problem(*steps: Any) -> tuple[str, str]:
    found = problems_of(with_steps(*steps))
    assert len(found) == 1, found
    return next(iter(found.items()))


# --- reading -----------------------------------------------------------------------------------


def test_the_design_example() -> None:
    got = settings_from_yaml(DESIGN_EXAMPLE)
    assert got.steps == (
        MessageStep(
            Channel.SMS,
            "Hi {{ name }}, we missed you. Reply STOP to opt out.",
            frozenset({"no_answer", "busy", "unreachable"}),
            "+14155550100",
            rate=Rate(20, 20),
        ),
        MessageStep(
            Channel.EMAIL,
            "Hello {{ name }}, ...",
            frozenset({"no_answer"}),
            "Acme <reminders@acme.example>",
            "We tried to reach you",
        ),
    )


def test_without_steps_a_campaign_only_calls() -> None:
    assert settings_from_mapping(MINIMAL).steps == ()
    assert steps_of(CALL) == ()
    assert settings_from_mapping(MINIMAL | {"steps": None}).steps == ()


def test_sms_defaults() -> None:
    [step] = steps_of(CALL, SMS)
    assert step == MessageStep(Channel.SMS, "Hi {{ name }}")
    assert step.sender is None  # the campaign's caller ID
    assert step.when == frozenset()  # runs after any outcome


def test_an_sms_sender_is_stored_in_e164() -> None:
    [step] = steps_of(CALL, sms(**{"from": "(415) 555-0199"}))
    assert step.sender == "+14155550199"


@pytest.mark.parametrize(
    "sender",
    [
        "reminders@acme.example",
        "Acme <reminders@acme.example>",
        '"Acme, Inc." <reminders@acme.example>',
        "<reminders@acme.example>",
    ],
)
def test_an_email_sender_with_or_without_a_display_name(sender: str) -> None:
    [step] = steps_of(CALL, email(**{"from": sender}))
    assert step.sender == sender  # kept as written


def test_every_email_option() -> None:
    [step] = steps_of(
        CALL,
        email(
            when=["completed"],
            subject="Thanks {{ name }}",
            body="Hello {{ name }},\n\nThanks.\n",
            html="<p>Hello {{ name }}</p>",
            rate={"per_minute": 30},
        ),
    )
    assert step == MessageStep(
        Channel.EMAIL,
        "Hello {{ name }},\n\nThanks.\n",
        frozenset({"completed"}),
        "reminders@acme.example",
        "Thanks {{ name }}",
        "<p>Hello {{ name }}</p>",
        Rate(0.5, 1),
    )


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ({"per_second": 20}, Rate(20, 20)),
        ({"per_second": 2.5, "burst": 1}, Rate(2.5, 1)),
        ({"per_minute": 120}, Rate(2, 2)),
        ({"per_hour": 360}, Rate(0.1, 1)),
    ],
)
def test_a_step_rate(rate: dict[str, Any], expected: Rate) -> None:
    [step] = steps_of(CALL, sms(rate=rate))
    assert step.rate == expected


def test_a_later_step_may_name_an_earlier_message_step() -> None:
    got = steps_of(
        CALL,
        sms(when=["no_answer"]),
        email(when=["sms.undelivered", "sms.failed"]),
        sms(when=["email.bounced", "sms.failed", "busy"]),
    )
    assert [s.when for s in got] == [
        {"no_answer"},
        {"sms.undelivered", "sms.failed"},
        {"email.bounced", "sms.failed", "busy"},
    ]


def test_every_when_word_is_accepted_where_its_channel_came_before() -> None:
    words = sorted(CALL_OUTCOMES) + [f"{c}.{o}" for c, os in MESSAGE_OUTCOMES.items() for o in os]
    [_, _, step] = steps_of(CALL, SMS, email(), sms(when=words))
    assert step.when == frozenset(words)


# --- errors, each at its place -----------------------------------------------------------------


def test_an_empty_list_of_steps() -> None:
    assert only_problem() == ("steps", "list the call step first: steps: [{call: {}}, ...]")


@pytest.mark.parametrize("first", [SMS, EMAIL])
def test_the_first_step_must_be_the_call(first: dict[str, Any]) -> None:
    where, what = only_problem(first, CALL)
    assert where == "steps[0]"
    assert what.startswith("the first step must be call: {}")
    assert "only send messages are not supported yet" in what


def test_a_second_call_step() -> None:
    assert only_problem(CALL, SMS, CALL) == (
        "steps[2].call",
        "a campaign has one call step, the first",
    )


def test_an_unknown_when_word() -> None:
    where, what = only_problem(CALL, sms(when=["no_answer", "voicemail"]))
    assert where == "steps[1].sms.when[1]"
    assert what.startswith("unknown outcome 'voicemail': use one of busy, completed,")


@pytest.mark.parametrize(
    ("steps", "where", "word"),
    [
        ((CALL, sms(when=["sms.failed"])), "steps[1].sms.when[0]", "sms.failed"),
        ((CALL, sms(when=["busy", "email.bounced"])), "steps[1].sms.when[1]", "email.bounced"),
        ((CALL, SMS, sms(when=["email.sent"]), EMAIL), "steps[2].sms.when[0]", "email.sent"),
        ((CALL, email(when=["email.bounced"])), "steps[1].email.when[0]", "email.bounced"),
    ],
)
def test_a_when_word_must_name_an_earlier_step(steps: Any, where: str, word: str) -> None:
    channel = word.partition(".")[0]
    assert only_problem(*steps) == (
        where,
        f"'{word}' names an {channel} step, and none comes before this one",
    )


@pytest.mark.parametrize(
    ("step", "where", "says"),
    [
        ({}, "steps[1]", "a step is one of call: {}, sms: {...} or email: {...}"),
        (SMS | EMAIL, "steps[1]", "a step is one of call: {}, sms: {...} or email: {...}"),
        ({"fax": {}}, "steps[1].fax", "Extra inputs are not permitted"),
        (sms(sender="+14155550100"), "steps[1].sms.sender", "Extra inputs are not permitted"),
        ({"sms": {}}, "steps[1].sms.body", "Field required"),
        (sms(body=""), "steps[1].sms.body", "at least 1 character"),
        (sms(body="Hi {{ name }"), "steps[1].sms.body", "line 1: unexpected '}'"),
        (sms(body="{{ ''.__class__ }}"), "steps[1].sms.body", "'__class__' is not available"),
        (sms(body="Hi\x00"), "steps[1].sms.body", "control characters"),
        (sms(**{"from": "12"}), "steps[1].sms.from", "not a valid phone number"),
        (sms(when="no_answer"), "steps[1].sms.when", "valid list"),
        (sms(rate={"per_second": 0}), "steps[1].sms.rate.per_second", "greater than 0"),
        (sms(rate={"burst": 3}), "steps[1].sms.rate", "give per_second, per_minute or per_hour"),
        (
            sms(rate={"per_second": 1, "per_hour": 10}),
            "steps[1].sms.rate",
            "a step takes one rate: per_second, per_minute or per_hour",
        ),
        ({"email": {"subject": "s", "body": "b"}}, "steps[1].email.from", "Field required"),
        (email(**{"from": "acme.example"}), "steps[1].email.from", "not an email address"),
        (email(**{"from": "Acme, Inc. <a@acme.example>"}), "steps[1].email.from", "quoted"),
        (email(subject="Hi\r\nBcc: x@evil.example"), "steps[1].email.subject", "control"),
        (email(subject="{% if %}"), "steps[1].email.subject", "line 1:"),
        (email(html="<p>{{ name }</p>"), "steps[1].email.html", "line 1: unexpected '}'"),
        (email(html="{% for x in y %}{% endfor %}"), "steps[1].email.html", "{% for %}"),
    ],
)
def test_a_bad_step_is_named_by_its_place(step: Any, where: str, says: str) -> None:
    found_where, what = only_problem(CALL, step)
    assert found_where == where
    assert says in what


def test_the_call_step_takes_no_settings_of_its_own() -> None:
    assert only_problem({"call": {"ring_timeout": 5}}) == (
        "steps[0].call.ring_timeout",
        "Extra inputs are not permitted",
    )


def test_a_call_step_written_without_braces() -> None:
    where, what = only_problem({"call": None}, SMS)
    assert (where, what) == ("steps[0]", "a step is one of call: {}, sms: {...} or email: {...}")


def test_too_many_steps() -> None:
    where, what = only_problem(CALL, *[SMS] * MAX_STEPS)
    assert where == "steps"
    assert f"at most {MAX_STEPS}" in what


def test_steps_must_be_a_list() -> None:
    assert problems_of(MINIMAL | {"steps": {"call": {}}}) == {
        "steps": "Input should be a valid list"
    }


def test_every_problem_is_reported_at_once() -> None:
    data = with_steps(CALL, sms(when=["nope"], body="{{"), email(**{"from": "x"})) | {
        "priority": -1
    }
    found = problems_of(data)
    assert set(found) == {
        "priority",
        "steps[1].sms.when[0]",
        "steps[1].sms.body",
        "steps[2].email.from",
    }


def test_order_problems_are_reported_together() -> None:
    found = problems_of(with_steps(SMS, CALL, email(when=["email.failed"]), CALL))
    assert set(found) == {"steps[0]", "steps[2].email.when[0]", "steps[3].call"}


# --- the stored form ---------------------------------------------------------------------------


def test_the_design_example_survives_the_stored_form() -> None:
    original = settings_from_yaml(DESIGN_EXAMPLE)
    stored = settings_to_mapping(original)
    assert stored["steps"] == [
        {"call": {}},
        {
            "sms": {
                "when": ["busy", "no_answer", "unreachable"],
                "from": "+14155550100",
                "body": "Hi {{ name }}, we missed you. Reply STOP to opt out.",
                "rate": {"per_second": 20.0, "burst": 20},
            }
        },
        {
            "email": {
                "when": ["no_answer"],
                "from": "Acme <reminders@acme.example>",
                "subject": "We tried to reach you",
                "body": "Hello {{ name }}, ...",
            }
        },
    ]
    assert settings_from_mapping(stored) == original
    assert settings_from_yaml(yaml.safe_dump(stored, allow_unicode=True)) == original


def test_a_campaign_without_message_steps_stores_no_steps() -> None:
    assert "steps" not in settings_to_mapping(settings_from_mapping(MINIMAL))
    assert "steps" not in settings_to_mapping(settings_from_mapping(with_steps(CALL)))


def _message_steps() -> st.SearchStrategy[tuple[MessageStep, ...]]:
    return st.lists(st.sampled_from([Channel.SMS, Channel.EMAIL]), max_size=5).flatmap(
        lambda channels: st.tuples(*(_step(c, channels[:i]) for i, c in enumerate(channels)))
    )


def _step(channel: Channel, before: list[Channel]) -> st.SearchStrategy[MessageStep]:
    # A step may name the call's outcomes and those of the channels of the steps before it.
    words = sorted(CALL_OUTCOMES) + [f"{c}.{o}" for c in set(before) for o in MESSAGE_OUTCOMES[c]]
    when = st.frozensets(st.sampled_from(words), max_size=4)
    body = st.sampled_from(["Hi {{ name }}", "Hello\n{{ name | title }}, ça va ?", "Reply STOP"])
    rate = st.none() | st.builds(
        Rate, st.floats(0.001, 10000, allow_nan=False), st.integers(1, 100000)
    )
    if channel is Channel.SMS:
        sender = st.none() | st.just("+14155550123")
        return st.builds(MessageStep, st.just(channel), body, when, sender, rate=rate)
    return st.builds(
        MessageStep,
        st.just(channel),
        body,
        when,
        st.sampled_from(["a@acme.example", "Acme <a@acme.example>"]),
        st.sampled_from(["We tried {{ name }}", "Hello"]),
        st.none() | st.just("<p>Hi {{ name }}</p>"),
        rate,
    )


@settings(max_examples=100, deadline=None)
@given(_message_steps())
def test_message_steps_read_back_unchanged(steps: tuple[MessageStep, ...]) -> None:
    original = settings_from_mapping(MINIMAL)
    original = CampaignSettings(**{**original.__dict__, "steps": steps})
    stored = settings_to_mapping(original)
    assert settings_from_mapping(stored) == original
    assert settings_to_mapping(settings_from_mapping(stored)) == stored
    assert settings_from_yaml(yaml.safe_dump(stored, allow_unicode=True)) == original


def test_a_step_may_wait_after_the_previous_one() -> None:
    [step] = steps_of(CALL, sms(after="2h"))
    assert step.after == 7200
    [later] = steps_of(CALL, email(after=90))
    assert later.after == 90


@pytest.mark.parametrize(
    ("after", "says"), [("31d", "less than or equal"), (-1, "cannot be negative")]
)
def test_a_step_delay_out_of_bounds(after: Any, says: str) -> None:
    location, message = only_problem(CALL, sms(after=after))
    assert location == "steps[1].sms.after"
    assert says in message


def test_the_channels_guide_example_is_a_valid_campaign() -> None:
    """docs/channels.md's three-step campaign, read as `dialer run` reads a file."""
    guide = (Path(__file__).parents[2] / "docs" / "channels.md").read_text()
    example = guide.split("```yaml\n", 1)[1].split("```", 1)[0]
    settings = settings_from_yaml(example)
    assert [(s.channel, sorted(s.when), s.after) for s in settings.steps] == [
        (Channel.SMS, ["busy", "no_answer", "unreachable"], 0),
        (Channel.EMAIL, ["no_answer"], 7200),
    ]
    assert settings.steps[0].rate == Rate(20, 20)

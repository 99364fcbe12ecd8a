"""The pre-dial hook: the campaign file's ``pre_dial`` read, stored and read back unchanged
and refused naming the field; the hook's answers read into verdicts, or refused saying why;
the job carrying the hook across the broker unchanged."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from dialer.campaign_document import settings_from_mapping, settings_from_yaml, settings_to_mapping
from dialer.domain.pre_dial import (
    Action,
    HookFailed,
    OnError,
    PreDialHook,
    Verdict,
    read_verdict,
    with_parameters,
)
from dialer.errors import InvalidInput
from dialer.ports import Origination
from dialer.ports.jobs import job_from_payload, job_payload
from dialer.ports.telephony import CallRequest

MINIMAL: dict[str, Any] = {"name": "x", "caller_id": "+14155550100"}
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
POOL = frozenset({"+14155550100", "+14155550111"})


def test_pre_dial_is_read_and_survives_the_stored_form() -> None:
    text = "name: x\ncaller_id: '+14155550100'\npre_dial:\n  url: https://crm.example/hook\n"
    got = settings_from_yaml(text + "  timeout: 1.5\n  on_error: retry\n")
    assert got.pre_dial == PreDialHook("https://crm.example/hook", 1.5, OnError.RETRY)
    stored = settings_to_mapping(got)
    assert stored["pre_dial"] == {
        "url": "https://crm.example/hook",
        "timeout": 1.5,
        "on_error": "retry",
    }
    assert settings_from_yaml(yaml.safe_dump(stored)) == got
    defaults = settings_from_mapping(MINIMAL | {"pre_dial": {"url": "https://crm.example/h"}})
    assert defaults.pre_dial == PreDialHook("https://crm.example/h", 2.0, OnError.SKIP)
    assert "pre_dial" not in settings_to_mapping(settings_from_mapping(MINIMAL))


@pytest.mark.parametrize(
    ("hook", "where", "words"),
    [
        ({}, "pre_dial.url", "Field required"),
        ({"url": "ftp://crm.example/h"}, "pre_dial.url", "http or https"),
        ({"url": "https://crm.example/h", "timeout": 11}, "pre_dial.timeout", "10"),
        ({"url": "https://crm.example/h", "timeout": 0}, "pre_dial.timeout", "greater than 0"),
        ({"url": "https://crm.example/h", "on_error": "ignore"}, "pre_dial.on_error", "skip"),
        ({"url": "https://crm.example/h", "retries": 3}, "pre_dial.retries", "not permitted"),
    ],
)
def test_a_wrong_pre_dial_is_refused_naming_the_field(hook: Any, where: str, words: str) -> None:
    with pytest.raises(InvalidInput) as info:
        settings_from_mapping(MINIMAL | {"pre_dial": hook})
    problems = {p.location: p.message for p in info.value.problems}
    assert where in problems, problems
    assert words in problems[where]


def verdict(answer: Any, status: int = 200) -> Verdict:
    body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
    return read_verdict(status, body, NOW, POOL)


def test_an_empty_success_proceeds() -> None:
    assert verdict(b"", 204) == Verdict(Action.PROCEED)
    assert verdict({}) == Verdict(Action.PROCEED)


def test_proceed_carries_the_calls_parameters() -> None:
    got = verdict(
        {
            "action": "proceed",
            "answer_url": "https://bot.example/a",
            "caller_id": "+14155550111",
            "parameters": {"z": "1", "session": "abc"},
        }
    )
    assert got.answer_url == "https://bot.example/a"
    assert got.caller_id == "+14155550111"
    assert got.parameters == (("session", "abc"), ("z", "1"))


def test_cancel_keeps_its_reason_and_defer_its_time() -> None:
    assert verdict({"action": "cancel", "reason": "customer"}).reason == "customer"
    later = verdict({"action": "defer", "until": "2026-12-03T16:30:00+00:00"})
    assert later.defer_until == NOW + timedelta(minutes=90)
    assert verdict({"action": "defer", "seconds": 600}).defer_until == NOW + timedelta(minutes=10)
    past = verdict({"action": "defer", "until": "2026-12-03T14:00:00Z"})
    assert past.defer_until == NOW  # due at once


@pytest.mark.parametrize(
    ("answer", "status", "words"),
    [
        ({}, 500, "answered 500"),
        (b"<html>", 200, "not JSON"),
        ([1, 2], 200, "not a JSON object"),
        ({"action": "maybe"}, 200, "action: 'maybe'"),
        ({"caller_id": "+14155550199"}, 200, "caller_id: not one of the campaign's"),
        ({"answer_url": "javascript:alert(1)"}, 200, "answer_url"),
        ({"parameters": {"a": 1}}, 200, "parameters"),
        ({"parameters": ["a"]}, 200, "parameters"),
        ({"action": "defer"}, 200, "until"),
        ({"action": "defer", "until": "tomorrow"}, 200, "until: not an ISO 8601"),
        ({"action": "defer", "until": "2026-12-04T10:00:00"}, 200, "offset"),
        ({"action": "defer", "seconds": -1}, 200, "seconds"),
        ({"action": "defer", "seconds": True}, 200, "seconds"),
        ({"action": "defer", "seconds": 40 * 86400}, 200, "30 days"),
    ],
)
def test_a_wrong_answer_fails_the_hook_saying_why(answer: Any, status: int, words: str) -> None:
    with pytest.raises(HookFailed) as info:
        verdict(answer, status)
    assert words in str(info.value)


def test_parameters_join_the_answer_urls_query() -> None:
    url = with_parameters("https://bot.example/a?campaign=7", (("session", "s 1"),))
    assert url == "https://bot.example/a?campaign=7&session=s+1"
    assert with_parameters("https://bot.example/a", ()) == "https://bot.example/a"


def test_a_job_carries_its_hook_across_the_broker() -> None:
    request = CallRequest(1, "+12125550100", "+14155550100", "https://d.example/s", 30, 60)
    job = Origination(1, 2, 3, 4, "lease", request)
    hooked = replace(job, pre_dial=PreDialHook("https://crm.example/h", 1.0, OnError.PROCEED))
    for each in (job, hooked):
        payload = json.loads(json.dumps(job_payload(each)))
        assert job_from_payload(payload) == each
    wrong = job_payload(hooked) | {"pre_dial": {"url": "x", "timeout": 1, "on_error": "no"}}
    with pytest.raises(InvalidInput):
        job_from_payload(wrong)

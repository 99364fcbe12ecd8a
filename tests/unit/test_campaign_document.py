"""The campaign file: the README example, every option, the round trip through the stored form,
and errors that say where and what."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.campaign_document import settings_from_mapping, settings_from_yaml, settings_to_mapping
from dialer.domain.durations import MAX_DURATION_SECONDS
from dialer.domain.model import CampaignSettings, Rate
from dialer.domain.retry import ExponentialBackoff, FixedDelays, Outcome, RetryPolicy
from dialer.domain.window import CallingWindow, TimeRange
from dialer.errors import InvalidInput, Problem

H = 3600

README_EXAMPLE = """\
name: spring-reminders
caller_id: "+14155550100"
max_concurrency: 50                 # campaign cap
rate: {per_second: 10, burst: 20}   # optional
window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "20:00"}  # contact-local
retry:
  max_attempts: 3
  no_answer: [10m, 1h]              # delay before the 2nd and 3rd attempt
  busy: [5m]
  failed: []                        # empty: no retry for this outcome
priority: 5
"""

MINIMAL: dict[str, Any] = {"name": "x", "caller_id": "+14155550100"}


def problems_of(data: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        settings_from_mapping(data)
    problems = info.value.problems
    assert problems, "InvalidInput must carry at least one problem"
    assert all(isinstance(p, Problem) for p in problems)
    found = {p.location: p.message for p in problems}
    assert len(found) == len(problems), "one problem per location"
    assert str(info.value) == "; ".join(f"{p.location}: {p.message}" for p in problems)
    return found


def only_problem(data: Any) -> tuple[str, str]:
    found = problems_of(data)
    assert len(found) == 1, found
    return next(iter(found.items()))


# --- the README example ----------------------------------------------------------------------


def test_readme_example() -> None:
    got = settings_from_yaml(README_EXAMPLE)
    assert got == CampaignSettings(
        name="spring-reminders",
        caller_id="+14155550100",
        max_concurrency=50,
        rate=Rate(per_second=10, burst=20),
        window=CallingWindow.daily([0, 1, 2, 3, 4], 9 * H, 20 * H),
        retry=RetryPolicy(
            max_attempts=3,
            rules={
                Outcome.NO_ANSWER: FixedDelays((600, 3600)),
                Outcome.BUSY: FixedDelays((300,)),
                Outcome.FAILED: FixedDelays(()),
            },
        ),
        priority=5,
    )


def test_readme_example_in_detail() -> None:
    got = settings_from_yaml(README_EXAMPLE)
    assert got.rate is not None
    assert got.rate.interval == pytest.approx(0.1)
    assert got.window.weekly[:5] == ((TimeRange(9 * H, 20 * H),),) * 5
    assert got.window.weekly[5:] == ((), ())
    assert set(got.retry.rules) == {Outcome.NO_ANSWER, Outcome.BUSY, Outcome.FAILED}
    # What the file leaves out takes the documented defaults.
    assert (got.ring_timeout, got.max_call_duration) == (30, 480)
    assert got.default_timezone == "America/New_York"
    assert got.answer_url is None


def test_defaults_of_a_minimal_file() -> None:
    got = settings_from_yaml('name: x\ncaller_id: "+14155550100"\n')
    assert got == CampaignSettings(
        name="x",
        caller_id="+14155550100",
        window=CallingWindow.daily(range(7), 8 * H, 21 * H),
    )
    assert got.rate is None
    assert got.retry == RetryPolicy(max_attempts=1, rules={})
    assert got.max_concurrency == 100


def test_every_option() -> None:
    got = settings_from_mapping(
        {
            "name": "all",
            "caller_id": "(415) 555-0100",
            "max_concurrency": 7,
            "rate": {"per_second": 2.5},
            "window": {"days": ["sat", "sun"], "start": "00:00", "end": "24:00"},
            "retry": {
                "max_attempts": 5,
                "no_answer": {
                    "exponential": {"base": "1m", "factor": 3, "max": "1h", "jitter": 0.2}
                },
                "busy": [30, "2m"],
                "disconnected": ["1d"],
                "unknown": [],
            },
            "priority": 0,
            "ring_timeout": "1m",
            "max_call_duration": "2h",
            "default_timezone": "Asia/Kolkata",
            "answer_url": "https://example.com/answer",
        }
    )
    assert got.caller_id == "+14155550100"  # stored in E.164
    assert got.rate == Rate(2.5, 3)  # burst defaults to the rate, rounded up
    assert got.window == CallingWindow.daily([5, 6], 0, 86400)
    assert got.retry.max_attempts == 5
    assert got.retry.rules == {
        Outcome.NO_ANSWER: ExponentialBackoff(base=60, factor=3.0, maximum=3600, jitter=0.2),
        Outcome.BUSY: FixedDelays((30, 120)),
        Outcome.DISCONNECTED: FixedDelays((86400,)),
        Outcome.UNKNOWN: FixedDelays(()),
    }
    assert (got.priority, got.ring_timeout, got.max_call_duration) == (0, 60, 7200)
    assert got.default_timezone == "Asia/Kolkata"
    assert got.answer_url == "https://example.com/answer"


def test_exponential_rule_from_yaml() -> None:
    text = README_EXAMPLE.replace(
        "no_answer: [10m, 1h]",
        "no_answer: {exponential: {base: 1m, factor: 3, max: 1h, jitter: 0.2}}",
    )
    rule = settings_from_yaml(text).retry.rules[Outcome.NO_ANSWER]
    assert rule == ExponentialBackoff(base=60, factor=3.0, maximum=3600, jitter=0.2)


def test_exponential_rule_defaults() -> None:
    doc = MINIMAL | {"retry": {"busy": {"exponential": {"base": "30s"}}}}
    rule = settings_from_mapping(doc).retry.rules[Outcome.BUSY]
    assert rule == ExponentialBackoff(base=30, factor=2.0, maximum=86400, jitter=0.1)


def test_readme_example_survives_the_stored_form() -> None:
    original = settings_from_yaml(README_EXAMPLE)
    stored = settings_to_mapping(original)
    assert stored["retry"] == {
        "max_attempts": 3,
        "no_answer": ["10m", "1h"],
        "busy": ["5m"],
        "failed": [],
    }
    assert stored["window"] == {  # stored in the per-day form, which says everything
        day: ["09:00-20:00"] for day in ("mon", "tue", "wed", "thu", "fri")
    }
    assert stored["rate"] == {"per_second": 10, "burst": 20}
    assert settings_from_mapping(stored) == original
    assert settings_from_yaml(yaml.safe_dump(stored)) == original


# --- errors ------------------------------------------------------------------------------------


def test_unknown_key() -> None:
    assert only_problem(MINIMAL | {"max_concurency": 5}) == (
        "max_concurency",
        "Extra inputs are not permitted",
    )


def test_unknown_nested_key() -> None:
    where, what = only_problem(MINIMAL | {"window": {"start": "09:00", "stat": "10:00"}})
    assert where == "window.stat"
    assert "not permitted" in what


def test_missing_required_keys() -> None:
    assert problems_of({"priority": 1}) == {"name": "Field required", "caller_id": "Field required"}


def test_bad_duration_in_a_list_names_its_index() -> None:
    where, what = only_problem(MINIMAL | {"retry": {"max_attempts": 3, "no_answer": ["10m", "1x"]}})
    assert where == "retry.no_answer[1]"
    assert "'1x'" in what
    assert "expected a duration like 30s, 10m, 2h or 1d" in what


def test_negative_duration_in_a_list() -> None:
    where, what = only_problem(MINIMAL | {"retry": {"busy": [60, -5]}})
    assert where == "retry.busy[1]"
    assert "negative" in what


def test_retry_rule_must_be_a_list_or_an_exponential_mapping() -> None:
    where, what = only_problem(MINIMAL | {"retry": {"busy": "5m"}})
    assert where == "retry.busy"
    assert "list" in what


@pytest.mark.parametrize(
    ("exponential", "field", "words"),
    [
        ({"base": "zz"}, "base", "'zz'"),
        ({"base": "1m", "factor": 20}, "factor", "less than or equal to 10"),
        ({"base": "1m", "factor": 0.5}, "factor", "greater than or equal to 1"),
        ({"base": "1m", "jitter": 1.5}, "jitter", "less than or equal to 1"),
        ({"base": "1m", "max": "1w"}, "max", "'1w'"),
        ({"base": "1m", "bogus": 1}, "bogus", "not permitted"),
        ({"factor": 2}, "base", "Field required"),
    ],
)
def test_bad_exponential_field(exponential: dict[str, Any], field: str, words: str) -> None:
    doc = MINIMAL | {"retry": {"no_answer": {"exponential": exponential}}}
    where, what = only_problem(doc)
    assert where == f"retry.no_answer.exponential.{field}"
    assert words in what


def test_window_start_after_end() -> None:
    where, what = only_problem(MINIMAL | {"window": {"start": "18:00", "end": "09:00"}})
    assert where == "window"
    assert "start 18:00 must be before end 09:00" in what


def test_window_start_equal_to_end() -> None:
    where, what = only_problem(MINIMAL | {"window": {"start": "09:00", "end": "09:00"}})
    assert where == "window"
    assert "before" in what


@pytest.mark.parametrize(("key", "value"), [("start", "25:00"), ("end", "12:60"), ("end", "9am")])
def test_bad_time(key: str, value: str) -> None:
    where, what = only_problem(MINIMAL | {"window": {key: value}})
    assert where == f"window.{key}"
    assert f"expected a time like 09:00, got {value!r}" in what


def test_unknown_day_name() -> None:
    where, what = only_problem(MINIMAL | {"window": {"days": ["mon", "funday"]}})
    assert where == "window.days[1]"
    assert "'mon'" in what
    assert "'sun'" in what


def test_no_days() -> None:
    where, what = only_problem(MINIMAL | {"window": {"days": []}})
    assert where == "window.days"
    assert "at least 1" in what


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("max_concurrency", 0, "greater than or equal to 1"),
        ("max_concurrency", -3, "greater than or equal to 1"),
        ("max_concurrency", "many", "valid integer"),
        ("priority", 101, "less than or equal to 100"),
        ("ring_timeout", "1s", "greater than or equal to 5"),
        ("ring_timeout", "1d", "less than or equal to 600"),
        ("max_call_duration", "5h", "less than or equal to 14400"),
        ("name", "", "at least 1 character"),
        ("rate", {"per_second": 0}, "greater than 0"),
        ("rate", {"per_second": 5, "burst": 0}, "greater than or equal to 1"),
    ],
)
def test_out_of_bounds(key: str, value: Any, words: str) -> None:
    where, what = only_problem(MINIMAL | {key: value})
    assert where.split(".")[0] == key
    assert words in what


@pytest.mark.parametrize("caller_id", ["12345", "not a number", "+1 415 555 01", "+999 1234 5678"])
def test_caller_id_must_be_a_valid_number(caller_id: str) -> None:
    where, what = only_problem(MINIMAL | {"caller_id": caller_id})
    assert where == "caller_id"
    assert repr(caller_id) in what
    assert "phone number" in what


def test_unknown_default_timezone() -> None:
    assert only_problem(MINIMAL | {"default_timezone": "Mars/Olympus_Mons"}) == (
        "default_timezone",
        "unknown time zone 'Mars/Olympus_Mons'",
    )


@pytest.mark.parametrize("zone", ["../../etc/passwd", "", "America/New York"])
def test_malformed_default_timezone(zone: str) -> None:
    where, what = only_problem(MINIMAL | {"default_timezone": zone})
    assert where == "default_timezone"
    assert "unknown time zone" in what


def test_yaml_syntax_error_names_line_and_column() -> None:
    text = 'name: x\ncaller_id: "+14155550100"\nwindow: {days: [mon, tue}\n'
    with pytest.raises(InvalidInput) as info:
        settings_from_yaml(text)
    [problem] = info.value.problems
    assert problem.location == "line 3, column 25"
    assert problem.message.startswith("not valid YAML: ")


def test_yaml_indentation_error_names_its_line() -> None:
    with pytest.raises(InvalidInput) as info:
        settings_from_yaml("name: x\nretry:\n  max_attempts: 3\n    busy: [5m]\n")
    [problem] = info.value.problems
    assert problem.location.startswith("line 4, column ")
    assert "not valid YAML" in problem.message


@pytest.mark.parametrize("text", ["- name: x\n- caller_id: y\n", "just words", "42", "", "~"])
def test_a_document_that_is_not_a_mapping(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        settings_from_yaml(text)
    assert info.value.problems == [
        Problem("(campaign)", "the campaign file must be a mapping of keys")
    ]


def test_every_problem_is_reported_at_once() -> None:
    found = problems_of(
        {
            "name": "x",
            "caller_id": "12",
            "max_concurrency": 0,
            "colour": "blue",
            "window": {"start": "25:00", "days": ["mon", "caturday"]},
            "retry": {
                "no_answer": ["10m", "soon"],
                "busy": {"exponential": {"base": "1m", "factor": 99}},
            },
            "default_timezone": "Nowhere/Special",
        }
    )
    assert set(found) == {
        "caller_id",
        "max_concurrency",
        "colour",
        "window.start",
        "window.days[1]",
        "retry.no_answer[1]",
        "retry.busy.exponential.factor",
        "default_timezone",
    }
    assert "'soon'" in found["retry.no_answer[1]"]
    assert "'25:00'" in found["window.start"]
    assert "Nowhere/Special" in found["default_timezone"]


def test_problems_from_yaml_are_the_same_as_from_a_mapping() -> None:
    text = README_EXAMPLE.replace("max_concurrency: 50", "max_concurrency: 0").replace(
        "busy: [5m]", "busy: [5m, 5x]"
    )
    with pytest.raises(InvalidInput) as info:
        settings_from_yaml(text)
    assert {p.location for p in info.value.problems} == {"max_concurrency", "retry.busy[1]"}


# --- round trip ----------------------------------------------------------------------------------

CALLER_IDS = {
    "+14155550100": "+14155550100",
    "(212) 555-0100": "+12125550100",
    "+44 20 7946 0000": "+442079460000",
    "+61 412 345 678": "+61412345678",
}
ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Pacific/Chatham", "UTC"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
durations = st.one_of(
    st.integers(0, MAX_DURATION_SECONDS),
    st.sampled_from(sorted(UNIT_SECONDS)).flatmap(
        lambda unit: st.integers(0, MAX_DURATION_SECONDS // UNIT_SECONDS[unit]).map(
            lambda n: f"{n}{unit}"
        )
    ),
)
exponential = st.fixed_dictionaries(
    {"base": durations},
    optional={
        "factor": st.floats(1.0, 10.0),
        "max": durations,
        "jitter": st.floats(0.0, 1.0),
    },
).map(lambda spec: {"exponential": spec})
rules = st.one_of(st.lists(durations, max_size=5), exponential)


@st.composite
def windows(draw: st.DrawFn) -> dict[str, Any]:
    start, end = sorted(draw(st.sets(st.integers(0, 24 * 4), min_size=2, max_size=2)))
    return {
        "days": draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=9)),
        "start": f"{start // 4:02d}:{start % 4 * 15:02d}",
        "end": f"{end // 4:02d}:{end % 4 * 15:02d}",
    }


documents = st.fixed_dictionaries(
    {
        "name": st.text(
            alphabet=st.characters(categories=["L", "N", "P", "Zs"]), min_size=1, max_size=40
        ),
        "caller_id": st.sampled_from(sorted(CALLER_IDS)),
    },
    optional={
        "max_concurrency": st.integers(1, 1_000_000),
        "rate": st.fixed_dictionaries(
            {"per_second": st.floats(0.001, 10000)}, optional={"burst": st.integers(1, 100000)}
        ),
        "window": windows(),
        "retry": st.fixed_dictionaries(
            {},
            optional={"max_attempts": st.integers(1, 50)}
            | {outcome.value: rules for outcome in Outcome},
        ),
        "priority": st.integers(0, 100),
        "ring_timeout": st.integers(5, 600),
        "max_call_duration": st.sampled_from([10, "1m", "90s", "2h", "4h", 14400]),
        "default_timezone": st.sampled_from(ZONES),
        "answer_url": st.just("https://example.com/twiml?campaign=1&x=y"),
    },
)


@settings(max_examples=250, deadline=None)
@given(documents)
def test_stored_form_reads_back_unchanged(doc: dict[str, Any]) -> None:
    original = settings_from_mapping(doc)
    stored = settings_to_mapping(original)
    again = settings_from_mapping(stored)
    assert again == original
    assert settings_to_mapping(again) == stored
    assert settings_from_yaml(yaml.safe_dump(stored, allow_unicode=True)) == original


@settings(max_examples=250, deadline=None)
@given(documents)
def test_settings_say_what_the_document_says(doc: dict[str, Any]) -> None:
    got = settings_from_mapping(doc)
    assert got.name == doc["name"]
    assert got.caller_id == CALLER_IDS[doc["caller_id"]]
    assert got.max_concurrency == doc.get("max_concurrency", 100)
    assert got.priority == doc.get("priority", 5)
    assert got.default_timezone == doc.get("default_timezone", "America/New_York")
    if "window" in doc:
        spec = doc["window"]
        open_days = {DAYS.index(d) for d in spec["days"]}
        start, end = (int(spec[k][:2]) * H + int(spec[k][3:]) * 60 for k in ("start", "end"))
        for day, ranges in enumerate(got.window.weekly):
            assert ranges == ((TimeRange(start, end),) if day in open_days else ())
    retry = doc.get("retry", {})
    assert got.retry.max_attempts == retry.get("max_attempts", 1)
    assert set(got.retry.rules) == {o for o in Outcome if o.value in retry}
    for outcome, rule in got.retry.rules.items():
        if isinstance(retry[outcome.value], list):
            assert isinstance(rule, FixedDelays)
            assert len(rule.delays) == len(retry[outcome.value])
        else:
            assert isinstance(rule, ExponentialBackoff)
    if "rate" in doc:
        assert got.rate is not None
        assert got.rate.per_second == doc["rate"]["per_second"]
        assert got.rate.burst >= 1
    else:
        assert got.rate is None


def test_a_key_written_twice_is_refused_with_its_line() -> None:
    text = (
        'name: a\ncaller_id: "+14155550100"\nretry: {max_attempts: 2}\nretry: {max_attempts: 3}\n'
    )
    with pytest.raises(InvalidInput) as caught:
        settings_from_yaml(text)
    [problem] = caught.value.problems
    assert problem.location == "line 4, column 1"
    assert "'retry' is written twice" in problem.message


@pytest.mark.parametrize("value", ["true", '"5"', "5.0"])
def test_counts_must_be_whole_numbers_not_lookalikes(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        settings_from_yaml(f'name: a\ncaller_id: "+14155550100"\nmax_concurrency: {value}\n')
    assert [p.location for p in caught.value.problems] == ["max_concurrency"]


WINDOW_BASE = 'name: a\ncaller_id: "+14155550100"\n'


def test_per_day_ranges_and_closed_dates() -> None:
    text = WINDOW_BASE + (
        'window: {mon: ["09:00-12:00", "13:00-20:00"], sat: ["10:00-14:00"], '
        "closed: [2026-12-25]}\n"
    )
    window = settings_from_yaml(text).window
    assert [len(day) for day in window.weekly] == [2, 0, 0, 0, 0, 1, 0]
    assert window.closed == frozenset({date(2026, 12, 25)})
    assert settings_from_mapping(settings_to_mapping(settings_from_yaml(text))).window == window


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ('{mon: ["09:00-12:00", "11:00-13:00"]}', "overlap"),
        ('{mon: ["12:00-09:00"]}', "must start before it ends"),
        ('{mon: ["09:00"]}', "expected a range like 09:00-12:00"),
        ('{days: [mon], mon: ["09:00-10:00"]}', "not both"),
        ("{closed: [not-a-date]}", "date"),
    ],
)
def test_bad_windows_are_named(window: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        settings_from_yaml(WINDOW_BASE + f"window: {window}\n")
    assert any(
        p.location.startswith("window") and message in p.message for p in caught.value.problems
    ), caught.value.problems


# --- hardening: bounded durations, provider URLs, hostile YAML, control characters ------------


@pytest.mark.parametrize(
    ("retry", "where"),
    [
        ({"max_attempts": 3, "no_answer": ["10m", "3650000d"]}, "retry.no_answer[1]"),
        ({"max_attempts": 3, "busy": ["366d"]}, "retry.busy[0]"),
        (
            {"max_attempts": 3, "failed": {"exponential": {"base": "400d"}}},
            "retry.failed.exponential.base",
        ),
        (
            {"max_attempts": 3, "unknown": {"exponential": {"base": "1m", "max": 10**12}}},
            "retry.unknown.exponential.max",
        ),
    ],
)
def test_a_duration_over_a_year_is_refused_naming_its_key(
    retry: dict[str, Any], where: str
) -> None:
    found_where, what = only_problem(MINIMAL | {"retry": retry})
    assert found_where == where
    assert "at most 365 days" in what


def test_a_retry_a_year_away_is_accepted() -> None:
    got = settings_from_mapping(MINIMAL | {"retry": {"max_attempts": 2, "no_answer": ["365d"]}})
    assert got.retry.rules[Outcome.NO_ANSWER] == FixedDelays((365 * 86400,))


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("javascript:alert(1)", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("ftp://example.com/x", "http or https"),
        ("https://", "a host"),
        ("https:///path", "a host"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("https://example.com/\x00", "spaces or control characters"),
        ("https://example.com:99999/", "port"),
        ("https://" + "a" * 2000 + ".com/", "at most 2000 characters"),
    ],
)
def test_answer_url_must_be_an_http_url_with_a_host(url: str, words: str) -> None:
    where, what = only_problem(MINIMAL | {"answer_url": url})
    assert where == "answer_url"
    assert words in what


@pytest.mark.parametrize(
    "url", ["https://example.com/twiml", "http://twiml.example.com:8080/a?b=c", "HTTPS://EX.COM"]
)
def test_answer_url_accepts_http_and_https(url: str) -> None:
    assert settings_from_mapping(MINIMAL | {"answer_url": url}).answer_url == url


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_yaml_aliases_are_refused_so_an_alias_bomb_cannot_grow() -> None:
    with pytest.raises(InvalidInput) as info:
        settings_from_yaml(BILLION_LAUGHS)
    [problem] = info.value.problems
    assert problem.location == "line 2, column 8"  # the first *a
    assert "aliases" in problem.message


def test_a_merge_key_is_an_alias_too() -> None:
    text = 'base: &base {max_attempts: 2}\nname: x\ncaller_id: "+14155550100"\nretry: {<<: *base}\n'
    with pytest.raises(InvalidInput) as info:
        settings_from_yaml(text)
    assert "aliases" in info.value.problems[0].message


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_deep_nesting_is_a_clear_error_not_a_recursion_error(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    text = "name: " + opening * 5000 + "x" + closing * 5000 + "\n"
    with pytest.raises(InvalidInput) as info:
        settings_from_yaml(text)
    [problem] = info.value.problems
    assert problem.location.startswith("line 1, column ")
    assert "nested more than" in problem.message


def test_moderate_nesting_is_still_read() -> None:
    text = 'name: x\ncaller_id: "+14155550100"\nretry: {max_attempts: 2, busy: [5m]}\n'
    assert settings_from_yaml(text).retry.max_attempts == 2


def test_a_campaign_file_over_one_mib_is_refused() -> None:
    text = 'name: x\ncaller_id: "+14155550100"\n' + "# padding\n" * (1 << 17)
    with pytest.raises(InvalidInput) as info:
        settings_from_yaml(text)
    assert info.value.problems == [
        Problem("(campaign)", "the campaign file is larger than 1 MiB (1048576 bytes)")
    ]


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (MINIMAL | {"name": "spring\x00reminders"}, "name"),
        (MINIMAL | {"name": "line\nbreak"}, "name"),
        (MINIMAL | {"segment": {"tags": ["vip", "a\x00b"]}}, "segment.tags[1]"),
        (MINIMAL | {"default_timezone": "America/New_York\x00"}, "default_timezone"),
        (MINIMAL | {"caller_id": "+14155550100\x00"}, "caller_id"),
    ],
)
def test_control_characters_in_text_are_refused_naming_the_key(
    document: dict[str, Any], where: str
) -> None:
    found_where, _ = only_problem(document)
    assert found_where == where

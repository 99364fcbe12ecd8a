"""The capacity model against figures computed by hand."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dialer.domain.capacity.attempts import expected_attempts, lead_endings, mean_delay
from dialer.domain.capacity.inputs import (
    RATES_TOGETHER,
    CallTimes,
    Ending,
    OutcomeMix,
    ZoneShare,
    cap,
    rate,
)
from dialer.domain.capacity.plan import make_plan
from dialer.domain.capacity.steady_state import hold_times, mean_talk
from dialer.domain.model import Rate
from dialer.domain.retry import ExponentialBackoff, FixedDelays, Outcome, RetryPolicy
from dialer.domain.window import CallingWindow, parse_clock
from dialer.errors import InvalidInput
from tests.support.planning import MIX, MONDAY_9_UTC, campaign, plan_input

RETRY = RetryPolicy(
    3,
    {
        Outcome.NO_ANSWER: FixedDelays((600, 3600)),
        Outcome.BUSY: FixedDelays((300,)),
        Outcome.FAILED: FixedDelays(()),
    },
)


# ------------------------------------------------------------------ hold time


def test_talk_time_is_cut_at_the_call_time_limit() -> None:
    # E[min(X, L)] for an exponential X of mean m is m (1 - e^(-L/m)).
    assert mean_talk(60, 60) == pytest.approx(60 * (1 - math.exp(-1)))  # 37.93
    assert mean_talk(90, 14400) == pytest.approx(90, rel=1e-9)


def test_hold_time_of_each_ending() -> None:
    times = CallTimes(talk=90, ring=10, setup=1, busy_ring=3, drop_after=10)
    holds = hold_times(times, campaign(ring_timeout=30, max_call_duration=480))
    assert holds[Ending.ANSWERED] == pytest.approx(1 + 10 + 90 * (1 - math.exp(-480 / 90)))
    assert holds[Ending.NO_ANSWER] == 31  # rings until the ring timeout
    assert holds[Ending.BUSY] == 4
    assert holds[Ending.FAILED] == 1
    assert holds[Ending.DROPPED] == 21


# ------------------------------------------------------------------ throughput


def test_the_concurrency_cap_binds_by_littles_law() -> None:
    # 10 slots, each held 60 s: 10 / 60 starts a second, 10 a minute, 10 calls in flight.
    plan = make_plan(plan_input())
    assert plan.hold_seconds == pytest.approx(60)
    assert plan.throughput.binding.name == "campaign cap"
    assert plan.starts_per_minute == pytest.approx(10)
    assert plan.throughput.in_flight == pytest.approx(10)
    usage = {u.limit.name: u.utilisation for u in plan.throughput.usage}
    assert usage == {"campaign cap": pytest.approx(1.0), "global cap": pytest.approx(0.001)}


def test_a_start_rate_binds_when_it_allows_fewer_starts_than_the_cap() -> None:
    # 100 slots of 60 s allow 100 starts/min; 30 a minute is the limit, with 30 calls in flight.
    per_minute = Rate.per_period(30, 60)
    settings = campaign(max_concurrency=100, rate_per_minute=per_minute)
    plan = make_plan(plan_input(campaign=settings))
    assert plan.throughput.binding.name == "campaign rate per minute"
    assert plan.starts_per_minute == pytest.approx(30)
    assert plan.throughput.in_flight == pytest.approx(30)
    usage = {u.limit.name: u.utilisation for u in plan.throughput.usage}
    assert usage["campaign cap"] == pytest.approx(0.3)


def test_the_ramp_is_not_a_sustained_rate() -> None:
    # No rate of its own: the ramp (100 / 20 s) paces only the first 20 s after a start; the
    # cap then allows 100 / 10 s = 10 a second, and it binds.
    times = CallTimes(talk=10, ring=0, setup=0)
    plan = make_plan(plan_input(campaign=campaign(max_concurrency=100, ramp_up=20), times=times))
    assert plan.throughput.binding.name == "campaign cap"
    assert plan.starts_per_minute == pytest.approx(600)


def test_a_deployment_limit_can_bind() -> None:
    limits = (cap("global cap", 10000), rate("global rate per second", 0.05), cap("tenant cap", 2))
    plan = make_plan(plan_input(limits=limits))
    # global 0.05/s = 3/min; tenant cap 2 / 60 s = 2/min: the tenant cap binds.
    assert plan.throughput.binding.name == "tenant cap"
    assert plan.starts_per_minute == pytest.approx(2)


# ------------------------------------------------------------------ retries


def test_expected_attempts_with_truncation_at_max_attempts() -> None:
    # no_answer and busy are retried (r = 0.35), failed is not: 1 + r + r^2 for 3 attempts.
    assert expected_attempts(RETRY, MIX) == pytest.approx(1 + 0.35 + 0.35**2)  # 1.4725
    assert expected_attempts(replace(RETRY, max_attempts=2), MIX) == pytest.approx(1.35)
    assert expected_attempts(replace(RETRY, max_attempts=1), MIX) == 1.0
    endings = lead_endings(RETRY, MIX)
    assert endings.reached == pytest.approx(0.6 * 1.4725)
    assert endings.exhausted == pytest.approx(0.35**3)
    assert endings.failed == pytest.approx(0.05 * 1.4725)


def test_an_outcome_without_a_rule_is_not_retried() -> None:
    only_busy = RetryPolicy(5, {Outcome.BUSY: FixedDelays((60,))})
    assert expected_attempts(only_busy, MIX) == pytest.approx(sum(0.1**k for k in range(5)))


def test_mean_delays_follow_the_rules() -> None:
    fixed = FixedDelays((600, 3600))
    assert [mean_delay(fixed, n) for n in range(3)] == [600, 3600, 3600]
    assert mean_delay(FixedDelays(()), 0) is None
    backoff = ExponentialBackoff(60, 2.0, 300, jitter=0.1)
    assert [mean_delay(backoff, n) for n in range(4)] == [60, 120, 240, 300]


# ------------------------------------------------------------------ completion


def test_completion_without_retries_is_leads_over_rate_plus_one_hold() -> None:
    settings = campaign(max_concurrency=1000, rate=Rate(1.0, 1))
    plan = make_plan(plan_input(contacts=100, campaign=settings))
    assert plan.starts_per_minute == pytest.approx(60)
    assert plan.completion.dialing_seconds == pytest.approx(100)
    assert plan.completion.seconds == pytest.approx(100 + 60, abs=2)


def test_the_retry_tail_adds_the_delays_of_the_last_attempts() -> None:
    # Never answered, 3 attempts 10 min then 1 h apart, each holding 1 + 30 s. Ten leads start
    # within ~3 s: the last call ends ~3 + 31 + 600 + 31 + 3600 + 31 s after the start.
    retry = RetryPolicy(3, {Outcome.NO_ANSWER: FixedDelays((600, 3600))})
    plan = make_plan(
        plan_input(
            contacts=10,
            campaign=campaign(max_concurrency=100, retry=retry),
            mix=OutcomeMix(answered=0.0, no_answer=1.0, busy=0.0, failed=0.0),
            times=CallTimes(talk=60, ring=0, setup=1),
        )
    )
    assert plan.attempts_per_lead == 3
    assert plan.completion.seconds == pytest.approx(3 * 31 + 600 + 3600, abs=6)


def test_the_window_stretches_the_campaign_across_days() -> None:
    # 09:00-17:00 every day, 1 start a second: 43,200 leads are 12 h of dialling, 8 h on Monday
    # and 4 h on Tuesday; the last call ends Tuesday ~13:01.
    window = CallingWindow.daily(range(7), parse_clock("09:00"), parse_clock("17:00"))
    settings = campaign(max_concurrency=1000, rate=Rate(1.0, 1), window=window)
    plan = make_plan(plan_input(contacts=43_200, campaign=settings))
    expected = MONDAY_9_UTC + timedelta(days=1, hours=4, seconds=60)
    assert abs((plan.completion.finish - expected).total_seconds()) < 10
    assert plan.completion.open_hours_per_day == pytest.approx(8)


def test_a_weekend_closed_window_resumes_on_monday() -> None:
    # Mon-Fri 09:00-17:00; starting Friday 09:00 with 12 h of work: 8 h on Friday, 4 on Monday.
    window = CallingWindow.daily(range(5), parse_clock("09:00"), parse_clock("17:00"))
    settings = campaign(max_concurrency=1000, rate=Rate(1.0, 1), window=window)
    friday = MONDAY_9_UTC + timedelta(days=4)
    plan = make_plan(plan_input(contacts=43_200, campaign=settings, start=friday))
    expected = friday + timedelta(days=3, hours=4, seconds=60)
    assert abs((plan.completion.finish - expected).total_seconds()) < 10
    assert plan.completion.open_hours_per_day == pytest.approx(8 * 5 / 7)


def test_zones_are_dialled_when_their_own_window_opens() -> None:
    # 09:00-17:00 local; half the list in UTC, half in Tokyo (UTC+9, closed at 09:00 UTC).
    # UTC's 3,600 leads take the whole rate for an hour; Tokyo opens at 00:00 UTC and its
    # 3,600 leads take one more hour: the last call ends ~01:01 UTC on Tuesday.
    window = CallingWindow.daily(range(7), parse_clock("09:00"), parse_clock("17:00"))
    settings = campaign(max_concurrency=1000, rate=Rate(1.0, 1), window=window)
    zones = (ZoneShare(("UTC",), 0.5), ZoneShare(("Asia/Tokyo",), 0.5))
    plan = make_plan(plan_input(contacts=7200, campaign=settings, zones=zones))
    expected = datetime(2026, 3, 3, 1, 1, tzinfo=UTC)
    assert abs((plan.completion.finish - expected).total_seconds()) < 10


def test_start_at_delays_the_campaign() -> None:
    later = MONDAY_9_UTC + timedelta(hours=2)
    settings = campaign(max_concurrency=1000, rate=Rate(1.0, 1), start_at=later)
    plan = make_plan(plan_input(contacts=100, campaign=settings))
    # 100 leads at 1/s from start_at, plus the last call's 60 s.
    expected = later + timedelta(seconds=160)
    assert abs((plan.completion.finish - expected).total_seconds()) < 2


# ------------------------------------------------------------------ warnings and bad input


def test_warnings_name_the_frequency_cap_and_end_at() -> None:
    settings = campaign(
        retry=replace(RETRY, max_attempts=5), end_at=MONDAY_9_UTC + timedelta(minutes=5)
    )
    plan = make_plan(plan_input(campaign=settings), number_max_attempts=3)
    assert any("frequency cap" in w for w in plan.warnings)
    assert any("end_at" in w for w in plan.warnings)
    assert make_plan(plan_input(), number_max_attempts=3).warnings == ()


def locations(error: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [p.location for p in error.value.problems]


def test_rates_outside_zero_to_one_name_their_field() -> None:
    with pytest.raises(InvalidInput) as error:
        OutcomeMix(answered=1.2, no_answer=-0.2, busy=0.0, failed=0.0)
    assert locations(error) == ["answer_rate", "no_answer_rate"]


def test_rates_that_do_not_add_up_to_one_are_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        OutcomeMix(answered=0.5, no_answer=0.2, busy=0.1, failed=0.0)
    assert locations(error) == [RATES_TOGETHER]
    assert "0.8" in error.value.problems[0].message


def test_call_times_must_be_positive() -> None:
    with pytest.raises(InvalidInput) as error:
        CallTimes(talk=0, ring=-1)
    assert locations(error) == ["ring"]
    with pytest.raises(InvalidInput) as error:
        CallTimes(talk=0)
    assert locations(error) == ["talk"]


def test_the_plan_input_names_each_bad_field() -> None:
    with pytest.raises(InvalidInput) as error:
        plan_input(
            contacts=0,
            times=CallTimes(ring=30),
            start=datetime(2026, 3, 2, 9, 0),
            limits=(rate("global rate per second", 0.0),),
        )
    assert locations(error) == ["contacts", "ring", "start", "global rate per second"]


def test_a_window_that_never_opens_is_reported() -> None:
    never = CallingWindow(((),) * 7)
    with pytest.raises(InvalidInput) as error:
        make_plan(plan_input(campaign=campaign(window=never)))
    assert locations(error) == ["window"]

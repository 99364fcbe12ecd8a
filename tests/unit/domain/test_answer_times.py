"""Answer rates per contact-local hour of the week, smoothed level by level, and the most
promising moment for a retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.domain.answer_times import (
    HOURS_IN_WEEK,
    PRIOR_RATE,
    AnswerHistory,
    best_moment,
    hour_of_week,
    smoothed,
)
from dialer.domain.window import CallingWindow, parse_clock

NY = ("America/New_York",)
MONDAY_9_NY = datetime(2026, 12, 7, 14, tzinfo=UTC)  # Monday 09:00 in New York
ALWAYS = CallingWindow.always()
FLAT = [PRIOR_RATE] * HOURS_IN_WEEK


def evening_people(answered: int = 60, of: int = 100) -> AnswerHistory:
    """A tenant whose contacts answer at 18:00–19:59 local, every day, and rarely otherwise."""
    counts = {}
    for day in range(7):
        for hour in range(24):
            evening = hour in (18, 19)
            counts[day * 24 + hour] = (of, answered if evening else 5)
    return AnswerHistory(counts, {}, {})


def test_the_hour_of_the_week_is_the_contacts_own() -> None:
    assert hour_of_week(MONDAY_9_NY, "America/New_York") == 9
    assert hour_of_week(MONDAY_9_NY, "Europe/Paris") == 15
    assert hour_of_week(datetime(2026, 12, 13, 23, 30, tzinfo=UTC), "UTC") == 167


def test_an_hour_with_few_attempts_stays_near_the_level_above() -> None:
    few = smoothed({9: (2, 2)}, FLAT, strength=20)
    many = smoothed({9: (2000, 2000)}, FLAT, strength=20)
    assert few[9] == pytest.approx((2 + 20 * PRIOR_RATE) / 22)
    assert few[9] < 0.4 < 0.99 < many[9]
    assert few[10] == PRIOR_RATE  # an hour never tried is the prior's


@given(st.integers(0, 500), st.integers(0, 500), st.floats(0.01, 0.99))
def test_a_smoothed_rate_lies_between_the_prior_and_the_observed_rate(
    attempts: int, answered: int, prior: float
) -> None:
    answered = min(answered, attempts)
    [rate] = smoothed({0: (attempts, answered)}, [prior] * HOURS_IN_WEEK, 10)[:1]
    observed = answered / attempts if attempts else prior
    assert min(prior, observed) - 1e-9 <= rate <= max(prior, observed) + 1e-9


def test_each_level_leans_on_the_one_above() -> None:
    tenant = {9: (1000, 800)}
    contact = {9: (1, 0)}  # one unanswered try says little against the tenant's 80 %
    rates = AnswerHistory(tenant, {}, contact).rates()
    assert 0.6 < rates[9] < 0.8
    assert rates[10] == pytest.approx(PRIOR_RATE)


def test_with_no_history_a_retry_keeps_its_delay() -> None:
    rates = AnswerHistory({}, {}, {}).rates()
    assert best_moment(rates, MONDAY_9_NY, ALWAYS, NY) == MONDAY_9_NY


def test_a_retry_moves_to_the_hour_people_answer() -> None:
    best = best_moment(evening_people().rates(), MONDAY_9_NY, ALWAYS, NY)
    assert best == datetime(2026, 12, 7, 23, tzinfo=UTC)  # 18:00 the same day, New York


def test_a_retry_due_in_the_good_hour_stays_there() -> None:
    six_fifteen = datetime(2026, 12, 7, 23, 15, tzinfo=UTC)
    assert best_moment(evening_people().rates(), six_fifteen, ALWAYS, NY) == six_fifteen


def test_a_small_gain_is_not_worth_the_wait() -> None:
    slightly = evening_people(answered=6).rates()  # 6 % against 5 %: within MIN_GAIN
    assert best_moment(slightly, MONDAY_9_NY, ALWAYS, NY) == MONDAY_9_NY


def test_the_best_hour_is_taken_only_inside_the_window() -> None:
    office = CallingWindow.daily(range(7), parse_clock("09:00"), parse_clock("17:00"))
    best = best_moment(evening_people().rates(), MONDAY_9_NY, office, NY)
    assert best == MONDAY_9_NY  # the evening is outside the window: nothing better inside


def test_the_horizon_bounds_the_wait() -> None:
    best = best_moment(
        evening_people().rates(), MONDAY_9_NY, ALWAYS, NY, horizon=timedelta(hours=3)
    )
    assert best == MONDAY_9_NY


def test_a_retry_never_moves_to_an_hour_nobody_has_called_in() -> None:
    # The tenant tried only 09:00 Monday, and rarely reached anyone then; every other hour is
    # the prior's 30 %, which is no evidence: the retry keeps its delay.
    history = AnswerHistory({9: (500, 25)}, {}, {})
    assert history.known_hours() == {9}
    rates = history.rates()
    assert rates[10] > rates[9] * 2
    assert best_moment(rates, MONDAY_9_NY, ALWAYS, NY, known=history.known_hours()) == (MONDAY_9_NY)


def test_one_unanswered_try_does_not_move_a_contacts_retry() -> None:
    flat = dict.fromkeys(range(HOURS_IN_WEEK), (100, 30))
    once = AnswerHistory(flat, {}, {9: (1, 0)})
    twice = AnswerHistory(flat, {}, {9: (3, 0)})
    known = once.known_hours()
    assert best_moment(once.rates(), MONDAY_9_NY, ALWAYS, NY, known=known) == MONDAY_9_NY
    moved = best_moment(twice.rates(), MONDAY_9_NY, ALWAYS, NY, known=known)
    assert moved == MONDAY_9_NY.replace(hour=15)  # 10:00 New York: the next hour

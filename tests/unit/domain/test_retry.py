"""The retry policy: what becomes of a lead after each kind of attempt ending, and the delays."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain.retry import (
    DEFAULT_UNKNOWN_DELAY,
    OUTCOME_OF_STATUS,
    ExponentialBackoff,
    FixedDelays,
    LeadDecision,
    Outcome,
    RetryPolicy,
    decide_after_attempt,
)
from dialer.domain.statuses import TERMINAL_ATTEMPT, AttemptStatus, LeadStatus

A = AttemptStatus
ENDED = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
RNG_SEED = 1234


def decide(policy: RetryPolicy, ending: AttemptStatus, attempts_made: int) -> LeadDecision:
    return decide_after_attempt(policy, ending, attempts_made, ENDED, random.Random(RNG_SEED))


README_POLICY = RetryPolicy(
    max_attempts=3,
    rules={
        Outcome.NO_ANSWER: FixedDelays((600, 3600)),
        Outcome.BUSY: FixedDelays((300,)),
        Outcome.FAILED: FixedDelays(()),
    },
)


def test_every_non_completed_ending_has_an_outcome() -> None:
    assert set(OUTCOME_OF_STATUS) == TERMINAL_ATTEMPT - {A.COMPLETED}


@pytest.mark.parametrize("attempts_made", [1, 2, 3, 10])
def test_a_completed_call_is_done(attempts_made: int) -> None:
    decision = decide(README_POLICY, A.COMPLETED, attempts_made)
    assert decision == LeadDecision(LeadStatus.DONE)
    assert not decision.retries


@pytest.mark.parametrize("ending", [A.FAILED, A.CANCELED])
def test_an_outcome_with_an_empty_list_fails_the_lead(ending: AttemptStatus) -> None:
    decision = decide(README_POLICY, ending, 1)
    assert decision == LeadDecision(LeadStatus.FAILED)
    assert not decision.retries


def test_an_outcome_without_a_rule_is_not_retried() -> None:
    # DISCONNECTED has no rule in the README policy.
    assert decide(README_POLICY, A.DISCONNECTED, 1) == LeadDecision(LeadStatus.FAILED)


@pytest.mark.parametrize(
    ("attempts_made", "delay"),
    [(1, 600), (2, 3600)],
)
def test_no_answer_waits_the_delay_for_its_retry_number(attempts_made: int, delay: int) -> None:
    decision = decide(README_POLICY, A.NO_ANSWER, attempts_made)
    assert decision.status is LeadStatus.WAITING_RETRY
    assert decision.retries
    assert decision.not_before == ENDED + timedelta(seconds=delay)


def test_the_last_delay_repeats_past_the_end_of_the_list() -> None:
    policy = RetryPolicy(max_attempts=10, rules={Outcome.BUSY: FixedDelays((60, 120, 300))})
    delays = []
    for attempts_made in range(1, 10):
        decision = decide(policy, A.BUSY, attempts_made)
        assert decision.not_before is not None
        delays.append(int((decision.not_before - ENDED).total_seconds()))
    assert delays == [60, 120, 300, 300, 300, 300, 300, 300, 300]


@pytest.mark.parametrize("ending", [A.NO_ANSWER, A.BUSY])
def test_at_max_attempts_the_lead_is_exhausted(ending: AttemptStatus) -> None:
    assert decide(README_POLICY, ending, 3) == LeadDecision(LeadStatus.EXHAUSTED)
    assert decide(README_POLICY, ending, 4) == LeadDecision(LeadStatus.EXHAUSTED)


def test_canceled_uses_the_failed_rule() -> None:
    assert OUTCOME_OF_STATUS[A.CANCELED] is Outcome.FAILED
    policy = RetryPolicy(max_attempts=3, rules={Outcome.FAILED: FixedDelays((120,))})
    decision = decide(policy, A.CANCELED, 1)
    assert decision.status is LeadStatus.WAITING_RETRY
    assert decision.not_before == ENDED + timedelta(seconds=120)


def test_unknown_without_a_rule_is_retried_once_an_hour_later() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.rule_for(Outcome.UNKNOWN) == DEFAULT_UNKNOWN_DELAY
    first = decide(policy, A.UNKNOWN, 1)
    assert first == LeadDecision(LeadStatus.WAITING_RETRY, ENDED + timedelta(hours=1))
    second = decide(policy, A.UNKNOWN, 2)
    assert second == LeadDecision(LeadStatus.WAITING_RETRY, ENDED + timedelta(hours=1))
    assert decide(policy, A.UNKNOWN, 3) == LeadDecision(LeadStatus.EXHAUSTED)


def test_unknown_follows_the_operators_rule_when_given() -> None:
    policy = RetryPolicy(max_attempts=3, rules={Outcome.UNKNOWN: FixedDelays(())})
    assert decide(policy, A.UNKNOWN, 1) == LeadDecision(LeadStatus.FAILED)
    policy = RetryPolicy(max_attempts=3, rules={Outcome.UNKNOWN: FixedDelays((900,))})
    assert decide(policy, A.UNKNOWN, 1).not_before == ENDED + timedelta(minutes=15)


def test_default_policy_never_retries_a_real_outcome() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 1
    for ending in (A.NO_ANSWER, A.BUSY, A.FAILED, A.CANCELED, A.DISCONNECTED):
        assert decide(policy, ending, 1).status is LeadStatus.FAILED
    assert decide(policy, A.UNKNOWN, 1).status is LeadStatus.EXHAUSTED


def test_exponential_rule_in_a_policy() -> None:
    policy = RetryPolicy(
        max_attempts=5, rules={Outcome.NO_ANSWER: ExponentialBackoff(60, 3.0, 3600, 0.0)}
    )
    waits = []
    for attempts_made in range(1, 5):
        decision = decide(policy, A.NO_ANSWER, attempts_made)
        assert decision.not_before is not None
        waits.append(decision.not_before - ENDED)
    assert waits == [timedelta(seconds=s) for s in (60, 180, 540, 1620)]
    assert decide(policy, A.NO_ANSWER, 5).status is LeadStatus.EXHAUSTED


def test_exponential_is_capped_at_its_maximum() -> None:
    rule = ExponentialBackoff(60, 2.0, 1000, 0.0)
    assert [rule.delay(n, random.Random(0)) for n in range(6)] == [60, 120, 240, 480, 960, 1000]


@settings(max_examples=300)
@given(
    delays=st.lists(st.integers(0, 10 * 86400), min_size=1, max_size=6),
    max_attempts=st.integers(1, 12),
    attempts_made=st.integers(1, 12),
)
def test_fixed_delays_property(delays: list[int], max_attempts: int, attempts_made: int) -> None:
    policy = RetryPolicy(max_attempts, {Outcome.NO_ANSWER: FixedDelays(tuple(delays))})
    decision = decide(policy, A.NO_ANSWER, attempts_made)
    if attempts_made >= max_attempts:
        assert decision == LeadDecision(LeadStatus.EXHAUSTED)
    else:
        expected = delays[min(attempts_made - 1, len(delays) - 1)]
        assert decision == LeadDecision(
            LeadStatus.WAITING_RETRY, ENDED + timedelta(seconds=expected)
        )


backoffs = st.builds(
    ExponentialBackoff,
    base=st.integers(0, 86400),
    factor=st.floats(1.0, 10.0),
    maximum=st.integers(0, 7 * 86400),
    jitter=st.floats(0.0, 1.0),
)


@settings(max_examples=300)
@given(rule=backoffs, retry_number=st.integers(0, 49), seed=st.integers(0, 2**32))
def test_exponential_delay_stays_within_its_jitter(
    rule: ExponentialBackoff, retry_number: int, seed: int
) -> None:
    raw = min(rule.base * rule.factor**retry_number, rule.maximum)
    delay = rule.delay(retry_number, random.Random(seed))
    assert isinstance(delay, int)
    assert delay >= 0
    assert round(raw * (1 - rule.jitter)) <= delay <= round(raw * (1 + rule.jitter))


@settings(max_examples=200)
@given(rule=backoffs, retry_number=st.integers(0, 49), seed=st.integers(0, 2**32))
def test_exponential_delay_is_deterministic_for_a_seed(
    rule: ExponentialBackoff, retry_number: int, seed: int
) -> None:
    first = rule.delay(retry_number, random.Random(seed))
    again = rule.delay(retry_number, random.Random(seed))
    assert first == again


@settings(max_examples=200)
@given(base=st.integers(1, 3600), retry_number=st.integers(0, 20), seed=st.integers(0, 2**32))
def test_exponential_delay_without_jitter_ignores_the_rng(
    base: int, retry_number: int, seed: int
) -> None:
    rule = ExponentialBackoff(base, 2.0, 86400, 0.0)
    assert rule.delay(retry_number, random.Random(seed)) == round(
        min(base * 2.0**retry_number, 86400)
    )


def test_jitter_actually_spreads_leads_that_failed_together() -> None:
    rule = ExponentialBackoff(600, 2.0, 86400, 0.5)
    rng = random.Random(7)
    delays = {rule.delay(0, rng) for _ in range(50)}
    assert len(delays) > 10
    assert min(delays) >= 300
    assert max(delays) <= 900


# --- retry instants past the end of the calendar ----------------------------------------------

NEAR_THE_END = datetime(9999, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ended_at", "delay"),
    [
        (ENDED, 3_650_000 * 86400),  # ten thousand years: past datetime's range
        (ENDED, 10**30),  # more seconds than timedelta can hold
        (NEAR_THE_END, 3600),  # an hour is too far when the calendar ends in a month
    ],
)
def test_a_retry_past_the_end_of_the_calendar_exhausts_the_lead(
    ended_at: datetime, delay: int
) -> None:
    policy = RetryPolicy(max_attempts=3, rules={Outcome.NO_ANSWER: FixedDelays((delay,))})
    decision = decide_after_attempt(policy, A.NO_ANSWER, 1, ended_at, random.Random(RNG_SEED))
    assert decision == LeadDecision(LeadStatus.EXHAUSTED)


def test_a_retry_a_year_away_is_still_a_retry() -> None:
    year = 365 * 86400
    policy = RetryPolicy(max_attempts=3, rules={Outcome.NO_ANSWER: FixedDelays((year,))})
    decision = decide(policy, A.NO_ANSWER, 1)
    assert decision == LeadDecision(LeadStatus.WAITING_RETRY, ENDED + timedelta(seconds=year))

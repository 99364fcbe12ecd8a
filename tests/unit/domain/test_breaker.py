"""The circuit breaker and the adaptive pacer: pure decisions, checked against a plain model."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain.aimd import AimdPacer, AimdPolicy
from dialer.domain.breaker import Breaker, BreakerPolicy, BreakerState

POLICY = BreakerPolicy(
    failure_ratio=0.5, window_seconds=60, min_calls=20, open_seconds=30, probes=3
)


@dataclass
class Model:
    """The breaker's rules written the slow, obvious way: a list of every outcome."""

    policy: BreakerPolicy
    state: BreakerState = BreakerState.CLOSED
    opened_at: float = 0.0
    outcomes: list[tuple[int, bool]] = field(default_factory=list)
    started: int = 0
    successes: int = 0

    def advance(self, now: float) -> None:
        if self.state is BreakerState.OPEN and now >= self.opened_at + self.policy.open_seconds:
            self.state, self.started, self.successes = BreakerState.HALF_OPEN, 0, 0
        oldest = int(now // 1) - int(self.policy.window_seconds) + 1
        self.outcomes = [o for o in self.outcomes if o[0] >= oldest]

    def record(self, now: float, failed: bool) -> None:
        self.advance(now)
        if self.state is BreakerState.CLOSED:
            self.outcomes.append((int(now // 1), failed))
            fails = sum(f for _, f in self.outcomes)
            if len(self.outcomes) >= self.policy.min_calls and fails >= 0.5 * len(self.outcomes):
                self.state, self.opened_at, self.outcomes = BreakerState.OPEN, now, []
        elif self.state is BreakerState.HALF_OPEN:
            if failed:
                self.state, self.opened_at, self.outcomes = BreakerState.OPEN, now, []
            else:
                self.successes += 1
                if self.successes >= self.policy.probes:
                    self.state, self.outcomes = BreakerState.CLOSED, []

    def try_start(self, now: float) -> bool:
        self.advance(now)
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN or self.started >= self.policy.probes:
            return False
        self.started += 1
        return True


# (seconds since the previous step, action): record a success/failure, or try to start a call
steps = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=20, allow_nan=False),
        st.sampled_from(["ok", "fail", "start"]),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_the_breaker_decides_like_the_plain_model(sequence: list[tuple[float, str]]) -> None:
    breaker, model, now = Breaker(POLICY), Model(POLICY), 1000.0
    for delay, action in sequence:
        now += delay
        if action == "start":
            assert breaker.try_start(now) == model.try_start(now)
        else:
            breaker.record(now, failed=action == "fail")
            model.record(now, action == "fail")
        assert breaker.state is model.state


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=19))
def test_fewer_calls_than_the_minimum_never_open_it(failures: list[bool]) -> None:
    breaker = Breaker(POLICY)
    for i, failed in enumerate(failures):
        breaker.record(100.0 + i * 0.01, failed=failed)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.permits(101.0) is None


def test_an_outage_opens_it_then_three_probes_close_it() -> None:
    breaker = Breaker(POLICY)
    for i in range(20):
        breaker.record(10.0 + i * 0.1, failed=True)
    assert breaker.state is BreakerState.OPEN
    opened = breaker.opened_at
    assert opened is not None
    assert breaker.permits(opened + 29.9) == 0
    assert breaker.snapshot(opened + 1).retry_at == opened + 30
    assert breaker.permits(opened + 30) == 3  # half-open: three probes
    assert [breaker.try_start(opened + 30) for _ in range(4)] == [True, True, True, False]
    for _ in range(3):
        breaker.record(opened + 31, failed=False)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.times_opened == 1


def test_a_failed_probe_reopens_it_for_another_full_period() -> None:
    breaker = Breaker(POLICY)
    for i in range(20):
        breaker.record(float(i), failed=i % 2 == 0)  # 50%: opens at the 20th
    assert breaker.state is BreakerState.OPEN
    assert breaker.try_start(19.0 + 30)
    breaker.record(50.0, failed=True)
    assert breaker.state is BreakerState.OPEN
    assert breaker.permits(79.9) == 0
    assert breaker.permits(80.0) == 3


def test_an_abandoned_probe_is_given_back() -> None:
    breaker = Breaker(POLICY)
    for _ in range(20):
        breaker.record(1.0, failed=True)
    assert breaker.try_start(31.0)
    breaker.abandon(31.0)
    assert breaker.permits(31.0) == 3


def test_old_failures_leave_the_window() -> None:
    breaker = Breaker(POLICY)
    for _ in range(15):
        breaker.record(0.0, failed=True)
    for _ in range(10):
        breaker.record(61.0, failed=False)  # the failures are more than 60 s old now
    for _ in range(9):
        breaker.record(61.5, failed=True)  # 9 of 19 in the window: under the minimum
    assert breaker.state is BreakerState.CLOSED
    breaker.record(61.6, failed=True)  # 10 of 20: half
    assert breaker.state is BreakerState.OPEN


def test_policy_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="failure_ratio"):
        BreakerPolicy(failure_ratio=0)
    with pytest.raises(ValueError, match="floor"):
        AimdPolicy(ceiling=1, floor=2)


# ---------------------------------------------------------------- adaptive pacing

AIMD = AimdPolicy(ceiling=40.0, floor=1.0, decrease=0.5, step=2.0, cooldown_seconds=1.0)
pacing_steps = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=3, allow_nan=False),
        st.sampled_from(["throttled", "ok", "start"]),
        st.integers(min_value=0, max_value=50),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(pacing_steps)
def test_the_rate_stays_between_floor_and_ceiling_and_starts_within_the_bucket(
    sequence: list[tuple[float, str, int]],
) -> None:
    pacer, now = AimdPacer(AIMD), 0.0
    for delay, action, count in sequence:
        now += delay
        rate_before = pacer.rate
        if action == "throttled":
            pacer.throttled(now)
            assert pacer.rate in {rate_before, max(AIMD.floor, rate_before * 0.5)}
        elif action == "ok":
            pacer.succeeded(now)
            assert pacer.rate in {rate_before, min(AIMD.ceiling, rate_before + AIMD.step)}
        else:
            allowed = pacer.allowance(now)
            assert 0 <= allowed <= math.floor(pacer.capacity + 1e-9)
            pacer.started(now, min(count, allowed))
        assert AIMD.floor <= pacer.rate <= AIMD.ceiling


def test_a_429_halves_the_rate_once_per_cooldown_and_success_brings_it_back() -> None:
    pacer = AimdPacer(AIMD)
    for _ in range(10):  # a storm of refusals within one second: one decrease
        pacer.throttled(5.0)
    assert pacer.rate == 20.0
    pacer.throttled(6.0)
    assert pacer.rate == 10.0
    now = 6.0
    while pacer.rate < AIMD.ceiling and now < 100:
        now += 0.25
        pacer.succeeded(now)
    assert pacer.rate == AIMD.ceiling
    assert now == pytest.approx(6.0 + (40 - 10) / 2, abs=1.0)  # +2/s for 15 s


def test_the_bucket_refills_at_the_current_rate() -> None:
    pacer = AimdPacer(AimdPolicy(ceiling=10.0))
    assert pacer.allowance(0.0) == 10
    pacer.started(0.0, 10)
    assert pacer.allowance(0.0) == 0
    assert pacer.allowance(0.5) == 5
    pacer.throttled(0.5)  # 5/s now; the bucket holds at most one second of it
    assert pacer.allowance(10.0) == 5

"""GCRA pacing: never more than burst + rate * elapsed calls, and the helpers agree."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain.pacing import Gcra

limiters = st.builds(
    Gcra,
    interval=st.sampled_from([0.001, 0.01, 0.05, 0.1, 1 / 3, 0.5, 1.0, 2.5, 60.0]),
    burst=st.integers(1, 50),
)
# Gaps between offered calls: as a real clock gives them (to the microsecond), or whole numbers
# of emission intervals, as a dispatcher woken by ``wait()`` would offer them.
microseconds = st.integers(0, 3_000_000).map(lambda us: us / 1e6)


@st.composite
def paced(draw: st.DrawFn) -> tuple[Gcra, list[float]]:
    gcra = draw(limiters)
    on_the_grid = st.integers(0, 3).map(lambda k: k * gcra.interval)
    offsets = draw(st.lists(st.one_of(microseconds, on_the_grid), min_size=1, max_size=150))
    return gcra, offsets


def simulate(gcra: Gcra, offsets: list[float], start: float = 1000.0) -> list[float]:
    """Offer one call at each instant; return the instants at which calls were admitted."""
    admitted = []
    tat = start
    now = start
    for gap in offsets:
        now += gap
        if gcra.allows(tat, now):
            tat = gcra.after_allow(tat, now)
            admitted.append(now)
    return admitted


def back_to_back(gcra: Gcra, tat: float, now: float) -> int:
    count = 0
    while gcra.allows(tat, now) and count < 10_000:
        tat = gcra.after_allow(tat, now)
        count += 1
    return count


def test_a_fresh_limiter_allows_a_burst_then_one_per_interval() -> None:
    gcra = Gcra(interval=0.1, burst=20)  # 10 per second, burst 20
    assert back_to_back(gcra, 0.0, 0.0) == 20
    assert gcra.capacity(0.0, 0.0) == 20
    tat = 0.0
    for _ in range(20):
        tat = gcra.after_allow(tat, 0.0)
    assert not gcra.allows(tat, 0.0)
    assert abs(gcra.wait(tat, 0.0) - 0.1) < 1e-9
    assert gcra.allows(tat, 0.1)
    assert gcra.capacity(tat, 0.1) == 1
    assert gcra.capacity(tat, 1.0) == 10


def test_burst_of_one_is_a_plain_rate() -> None:
    gcra = Gcra(interval=0.5, burst=1)
    assert gcra.tolerance == 0
    admitted = simulate(gcra, [0.0] + [0.1] * 30)
    assert len(admitted) == 7  # at 0, 0.5, 1.0, ... 3.0
    assert all(b - a >= 0.5 - 1e-9 for a, b in pairwise(admitted))


def test_wait_is_zero_one_interval_after_a_full_burst() -> None:
    """10 calls/s with a burst of 3: after 3 calls at t0, a 4th is allowed at t0 + 0.1 s, and
    then wait() must say 0 ("0 when allowed now"), as allows() and capacity() do."""
    gcra = Gcra(interval=0.1, burst=3)
    t0 = 1000.37
    tat = t0
    for _ in range(3):
        tat = gcra.after_allow(tat, t0)
    now = t0 + 0.1
    assert gcra.allows(tat, now)
    assert gcra.capacity(tat, now) == 1
    assert gcra.wait(tat, now) == 0


@settings(max_examples=300, deadline=None)
@given(case=paced())
def test_admitted_calls_never_exceed_burst_plus_rate_times_elapsed(
    case: tuple[Gcra, list[float]],
) -> None:
    gcra, offsets = case
    admitted = simulate(gcra, offsets)
    assert len(admitted) <= len(offsets)
    for i in range(len(admitted)):
        for j in range(i, len(admitted)):
            elapsed = admitted[j] - admitted[i]
            assert j - i + 1 <= gcra.burst + elapsed / gcra.interval + 1e-6, (i, j)


def states(gcra: Gcra, offsets: list[float]) -> list[tuple[float, float]]:
    """(tat, now) as each call is offered, before the limiter decides on it."""
    seen = []
    tat = now = 1000.0
    for gap in offsets:
        now += gap
        seen.append((tat, now))
        if gcra.allows(tat, now):
            tat = gcra.after_allow(tat, now)
    return seen


@settings(max_examples=300, deadline=None)
@given(case=paced())
def test_capacity_counts_the_back_to_back_allows(case: tuple[Gcra, list[float]]) -> None:
    gcra, offsets = case
    for tat, now in states(gcra, offsets):
        assert gcra.capacity(tat, now) == back_to_back(gcra, tat, now), (tat, now)


@settings(max_examples=300, deadline=None)
@given(case=paced())
def test_wait_is_zero_exactly_when_allowed(case: tuple[Gcra, list[float]]) -> None:
    gcra, offsets = case
    for tat, now in states(gcra, offsets):
        wait = gcra.wait(tat, now)
        assert wait >= 0
        assert (wait == 0) is gcra.allows(tat, now), (tat, now, wait)
        if wait > 0:  # a caller who waits as told is let in, and told to wait no more
            assert gcra.allows(tat, now + wait)
            assert gcra.wait(tat, now + wait) == 0, (tat, now + wait)


@settings(max_examples=200, deadline=None)
@given(gcra=limiters, start=st.floats(0, 1e6), busy=st.integers(1, 200))
def test_a_saturated_limiter_admits_at_the_sustained_rate(
    gcra: Gcra, start: float, busy: int
) -> None:
    """Offered a call every millisecond for a while, it admits the burst plus one per interval."""
    offsets = [0.0] + [0.001] * busy
    admitted = simulate(gcra, offsets, start)
    elapsed = 0.001 * busy
    assert len(admitted) <= gcra.burst + elapsed / gcra.interval + 1e-6
    assert len(admitted) >= min(len(offsets), gcra.burst)

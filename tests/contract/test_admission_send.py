"""Send slots (``reserve_send``), on every backend: one reservation takes a slot on every rate
limiter of the scope at once, at the first instant all of them allow; burst and refill are
those of GCRA, one call of the burst held back (the slack for the delays after the slot); a
reservation past the caller's bound takes nothing; and the send state is apart from
admission's.

Time is real (the Redis backend runs on its server's clock), so instants are compared with a
small tolerance; each slot's instant comes from the backend itself (``SendSlot.at``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from dialer.domain.model import Rate
from dialer.ports import Admission, Scope, SendSlot

# Instants are the backend's own; a slot inside the burst is "now", so its offset from the
# first one is the real time between the two reservations: a few milliseconds on a quiet
# machine, more on a busy one. Offsets are compared to within this, beyond that real time.
CLOSE = 0.015


def scope(campaign: int = 1, **rates: Rate | tuple[Rate, ...]) -> Scope:
    return Scope(tenant_id=1, campaign_id=campaign, global_max=100, campaign_max=100, **rates)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Reserved:
    offsets: list[float]  # each slot's instant less the first one's
    elapsed: list[float]  # real time from before the first reservation to after each one


async def reserve(admission: Admission, scopes: list[Scope], max_wait: float = 10.0) -> Reserved:
    """Reserve a slot for each scope in turn."""
    started, slots, elapsed = time.monotonic(), [], []
    for each in scopes:
        slots.append(await admission.reserve_send(each, max_wait))
        elapsed.append(time.monotonic() - started)
    assert all(slot.reserved for slot in slots)
    return Reserved([slot.at - slots[0].at for slot in slots], elapsed)


def assert_offsets(reserved: Reserved, expected: list[float]) -> None:
    """Each slot at its expected offset, or — when the reservation itself came later than
    that (a busy machine) — no later than the moment it was made."""
    for offset, spent, wanted in zip(reserved.offsets, reserved.elapsed, expected, strict=True):
        assert wanted - CLOSE <= offset <= max(wanted, spent) + CLOSE, (reserved, expected)


async def test_a_scope_without_rates_never_waits(admission: Admission) -> None:
    slot = await admission.reserve_send(scope(), 10.0)
    assert slot == SendSlot(0.0, 0.0, reserved=True)


async def test_burst_then_one_slot_per_interval(admission: Admission) -> None:
    paced = scope(campaign_rate=Rate(20, 4))  # 50 ms apart, 4 - 1 back to back
    offsets = await reserve(admission, [paced] * 6)
    assert_offsets(offsets, [0, 0, 0, 0.05, 0.10, 0.15])


async def test_a_burst_of_one_stays_one(admission: Admission) -> None:
    offsets = await reserve(admission, [scope(campaign_rate=Rate(20, 1))] * 3)
    assert_offsets(offsets, [0, 0.05, 0.10])


async def test_the_wait_is_the_slot_from_now(admission: Admission) -> None:
    paced = scope(campaign_rate=Rate(10, 1))
    first = await admission.reserve_send(paced, 10.0)
    second = await admission.reserve_send(paced, 10.0)
    assert first.wait == pytest.approx(0, abs=CLOSE)
    assert second.wait == pytest.approx(0.1, abs=CLOSE)  # less the time between the two
    assert second.at - first.at == pytest.approx(0.1, abs=1e-6)


async def test_every_limiter_at_once_the_tightest_binds(admission: Admission) -> None:
    """The tenant's 20/s without burst spaces the first slots 50 ms apart; once the campaign's
    burst of 3 (4 - 1) is spent, its 10/s binds: 100 ms apart."""
    both = scope(campaign_rate=Rate(10, 4), tenant_rate=Rate(20, 1))
    offsets = await reserve(admission, [both] * 7)
    assert_offsets(offsets, [0, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40])


async def test_several_rates_on_one_level(admission: Admission) -> None:
    """Per second with a burst, and per minute: the per-minute limiter's burst of 4 (5 - 1) is
    spent first, then it allows one slot a second."""
    rates = (Rate(50, 10), Rate.per_period(60, 60, burst=5))
    offsets = await reserve(admission, [scope(campaign_rate=rates)] * 5, max_wait=2.0)
    assert_offsets(offsets, [0, 0, 0, 0, 1.0])


async def test_the_global_rate_spans_campaigns(admission: Admission) -> None:
    shared = Rate(20, 1)
    scopes = [scope(campaign, global_rate=shared) for campaign in (1, 2, 3, 1)]
    assert_offsets(await reserve(admission, scopes), [0, 0.05, 0.10, 0.15])


async def test_other_campaigns_do_not_wait_on_one_campaigns_rate(admission: Admission) -> None:
    slow = scope(1, campaign_rate=Rate(1, 1))
    await admission.reserve_send(slow, 10.0)
    held = await admission.reserve_send(slow, 10.0)
    other = await admission.reserve_send(scope(2, campaign_rate=Rate(1, 1)), 10.0)
    assert held.wait == pytest.approx(1.0, abs=CLOSE)
    assert other.wait == 0


async def test_a_slot_past_the_bound_takes_nothing(admission: Admission) -> None:
    paced = scope(campaign_rate=Rate(10, 1))
    first = await admission.reserve_send(paced, 10.0)
    refused = await admission.reserve_send(paced, 0.05)
    assert not refused.reserved
    assert refused.wait == pytest.approx(0.1, abs=CLOSE)
    second = await admission.reserve_send(paced, 10.0)
    assert second.at - first.at == pytest.approx(0.1, abs=1e-6)  # the refused one took no slot


async def test_the_burst_comes_back_after_a_pause(admission: Admission) -> None:
    paced = scope(campaign_rate=Rate(50, 3))
    await reserve(admission, [paced] * 3)
    await asyncio.sleep(0.1)  # past the last slot and one more interval: the burst is back
    later = [await admission.reserve_send(paced, 10.0) for _ in range(2)]
    assert [slot.wait for slot in later] == [0.0, 0.0]


async def test_send_slots_and_admission_keep_apart(admission: Admission) -> None:
    """Admission bounds how many calls start, the send slots space their sends: taking one
    does not spend the other."""
    paced = scope(campaign_rate=Rate(10, 3))
    calls = [(f"lease-{n}", f"+1212555010{n}") for n in range(3)]
    admitted = await admission.acquire_batch(paced, calls, ttl=60)
    assert all(result.admitted for result in admitted)
    assert await admission.headroom(paced) == 0
    slots = [await admission.reserve_send(paced, 10.0) for _ in range(2)]
    assert [slot.wait for slot in slots] == [0.0, 0.0]
    assert await admission.headroom(paced) == 0
    [fourth] = await admission.acquire_batch(paced, [("d", "+12125550109")], ttl=60)
    assert not fourth.admitted

"""The admission contract, on every backend: caps, number locks and rates are exact;
acquire is all-or-nothing; release is idempotent; leases expire; renew extends only a live one.

Time is real here (short leases), so the same tests hold for a backend on a server's clock."""

from __future__ import annotations

import asyncio
import itertools

from dialer.domain.model import Rate
from dialer.ports import Admission, Limit, Scope

_ids = itertools.count()


def scope(campaign: int = 1, *, cap: int = 10, global_max: int = 100, **extra: object) -> Scope:
    return Scope(
        tenant_id=1,
        campaign_id=campaign,
        global_max=global_max,
        campaign_max=cap,
        **extra,  # type: ignore[arg-type]
    )


def calls(n: int, start: int = 0) -> list[tuple[str, str]]:
    return [(f"lease-{next(_ids)}", f"+1212555{start + i:04d}") for i in range(n)]


async def test_campaign_cap_is_exact(admission: Admission) -> None:
    results = await admission.acquire_batch(scope(cap=3), calls(5), ttl=60)
    assert [r.admitted for r in results] == [True, True, True, False, False]
    assert {r.refused_by for r in results[3:]} == {Limit.CAMPAIGN_CAP}
    assert (await admission.usage()).by_campaign[1] == 3
    assert await admission.headroom(scope(cap=3)) == 0


async def test_global_cap_spans_campaigns(admission: Admission) -> None:
    first = await admission.acquire_batch(scope(1, global_max=4), calls(3), ttl=60)
    second = await admission.acquire_batch(scope(2, global_max=4), calls(3, 100), ttl=60)
    assert sum(r.admitted for r in first + second) == 4
    assert second[-1].refused_by is Limit.GLOBAL_CAP
    assert (await admission.usage()).global_active == 4


async def test_tenant_cap(admission: Admission) -> None:
    results = await admission.acquire_batch(scope(tenant_max=2), calls(3), ttl=60)
    assert [r.refused_by for r in results] == [None, None, Limit.TENANT_CAP]


async def test_one_number_one_call_across_campaigns(admission: Admission) -> None:
    [first] = await admission.acquire_batch(scope(1), [("a", "+12125550100")], ttl=60)
    [second] = await admission.acquire_batch(scope(2), [("b", "+12125550100")], ttl=60)
    assert first.admitted
    assert not second.admitted
    assert second.refused_by is Limit.NUMBER_BUSY
    assert first.lease is not None
    await admission.release(first.lease)
    [third] = await admission.acquire_batch(scope(2), [("c", "+12125550100")], ttl=60)
    assert third.admitted


async def test_refused_call_takes_nothing(admission: Admission) -> None:
    """All or nothing: a call refused by the number lock holds no cap slot."""
    await admission.acquire_batch(scope(cap=2), [("a", "+12125550100")], ttl=60)
    [busy] = await admission.acquire_batch(scope(cap=2), [("b", "+12125550100")], ttl=60)
    [other] = await admission.acquire_batch(scope(cap=2), [("c", "+12125550101")], ttl=60)
    assert busy.refused_by is Limit.NUMBER_BUSY
    assert other.admitted
    assert (await admission.usage()).by_campaign[1] == 2


async def test_release_is_idempotent_and_frees_the_slot(admission: Admission) -> None:
    results = await admission.acquire_batch(scope(cap=1), calls(1), ttl=60)
    lease = results[0].lease
    assert lease is not None
    assert await admission.release(lease) is True
    assert await admission.release(lease) is False
    assert await admission.headroom(scope(cap=1)) == 1
    again = await admission.acquire_batch(scope(cap=1), calls(1), ttl=60)
    assert again[0].admitted


async def test_releases_in_one_batch_free_caps_and_numbers(admission: Admission) -> None:
    first = await admission.acquire_batch(scope(cap=3), calls(3), ttl=60)
    leases = [r.lease for r in first if r.lease is not None]
    assert len(leases) == 3
    assert await admission.release(leases[0]) is True
    assert await admission.release_many(leases) == 2  # the one released before is not counted
    assert await admission.release_many(leases) == 0
    assert await admission.release_many([]) == 0
    assert (await admission.usage()).by_campaign.get(1, 0) == 0
    same_numbers = [(f"again-{lease.id}", lease.phone) for lease in leases]
    again = await admission.acquire_batch(scope(cap=3), same_numbers, ttl=60)
    assert all(r.admitted for r in again)


async def test_expired_lease_comes_back(admission: Admission) -> None:
    results = await admission.acquire_batch(scope(cap=1), [("x", "+12125550100")], ttl=0.2)
    assert results[0].admitted
    assert not (await admission.acquire_batch(scope(cap=1), calls(1), ttl=60))[0].admitted
    await asyncio.sleep(0.3)
    [same_number] = await admission.acquire_batch(scope(cap=1), [("y", "+12125550100")], ttl=60)
    assert same_number.admitted


async def test_renew_extends_only_a_live_lease(admission: Admission) -> None:
    [result] = await admission.acquire_batch(scope(cap=1), calls(1), ttl=0.3)
    assert result.lease is not None
    await asyncio.sleep(0.15)
    assert await admission.renew(result.lease, ttl=0.5)
    await asyncio.sleep(0.25)  # past the first expiry, inside the renewed one
    assert await admission.headroom(scope(cap=1)) == 0
    await asyncio.sleep(0.4)
    assert not await admission.renew(result.lease, ttl=10)
    assert await admission.headroom(scope(cap=1)) == 1


async def test_released_lease_cannot_be_renewed(admission: Admission) -> None:
    [result] = await admission.acquire_batch(scope(), calls(1), ttl=60)
    assert result.lease is not None
    await admission.release(result.lease)
    assert not await admission.renew(result.lease, ttl=60)


async def test_rate_limit_allows_burst_then_paces(admission: Admission) -> None:
    paced = scope(cap=1000, campaign_rate=Rate(per_second=10, burst=5))
    first = await admission.acquire_batch(paced, calls(8), ttl=60)
    assert sum(r.admitted for r in first) == 5
    refused = [r for r in first if not r.admitted]
    assert {r.refused_by for r in refused} == {Limit.CAMPAIGN_RATE}
    assert all(r.retry_after is not None and 0 < r.retry_after <= 0.11 for r in refused)
    await asyncio.sleep(0.35)  # 10/s: about three more may start
    later = await admission.acquire_batch(paced, calls(8, 100), ttl=60)
    assert 3 <= sum(r.admitted for r in later) <= 4


async def test_headroom_counts_caps_and_rates(admission: Admission) -> None:
    assert await admission.headroom(scope(cap=7)) == 7
    assert await admission.headroom(scope(cap=7, campaign_rate=Rate(1, 3))) == 3
    await admission.acquire_batch(scope(cap=7), calls(2), ttl=60)
    assert await admission.headroom(scope(cap=7)) == 5


async def test_concurrent_acquirers_never_exceed_the_cap(admission: Admission) -> None:
    async def grab(start: int) -> int:
        results = await admission.acquire_batch(scope(cap=25), calls(10, start), ttl=60)
        return sum(r.admitted for r in results)

    admitted = await asyncio.gather(*(grab(i * 100) for i in range(20)))
    assert sum(admitted) == 25
    assert (await admission.usage()).by_campaign[1] == 25

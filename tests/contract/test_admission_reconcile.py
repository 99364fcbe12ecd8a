"""The rest of the admission contract, on every backend: a state that is not known-good admits
nothing until it is rebuilt; restore and prune keep it equal to the store's live attempts;
usage counts only live leases; a scope may carry several rates per level."""

from __future__ import annotations

import asyncio
import itertools
import time

from dialer.domain.model import Rate
from dialer.ports import Admission, Lease, Limit, Scope
from tests.support.admission import MakeAdmission

_ids = itertools.count()


def scope(campaign: int = 1, *, cap: int = 10, tenant: int = 1, **extra: object) -> Scope:
    return Scope(
        tenant_id=tenant,
        campaign_id=campaign,
        global_max=100,
        campaign_max=cap,
        **extra,  # type: ignore[arg-type]
    )


def live_lease(phone: str, *, campaign: int = 1, seconds: float = 60) -> Lease:
    return Lease(f"restored-{next(_ids)}", 1, campaign, phone, time.time() + seconds)


async def take(admission: Admission, phone: str, *, ttl: float = 60, **kw: object) -> Lease:
    [result] = await admission.acquire_batch(scope(**kw), [(f"l-{next(_ids)}", phone)], ttl)  # type: ignore[arg-type]
    assert result.lease is not None, result
    return result.lease


async def test_unknown_state_admits_nothing_until_rebuilt(make_admission: MakeAdmission) -> None:
    admission = await make_admission(ready=False)
    assert await admission.needs_rebuild()
    [refused] = await admission.acquire_batch(scope(), [("a", "+12125550100")], ttl=60)
    assert not refused.admitted
    assert refused.refused_by is None  # not ready: back off, whatever the campaign
    assert await admission.headroom(scope()) == 0

    held = live_lease("+12125550100")
    assert await admission.rebuild([held, live_lease("+12125550101", seconds=-1)])
    assert not await admission.needs_rebuild()
    assert (await admission.usage()).global_active == 1  # the expired one is not put back
    results = await admission.acquire_batch(
        scope(cap=2), [("b", "+12125550100"), ("c", "+12125550102"), ("d", "+12125550103")], 60
    )
    assert [r.refused_by for r in results] == [Limit.NUMBER_BUSY, None, Limit.CAMPAIGN_CAP]
    assert results[1].admitted


async def test_a_second_rebuild_changes_nothing(make_admission: MakeAdmission) -> None:
    admission = await make_admission(ready=False)
    first, second = await asyncio.gather(
        admission.rebuild([live_lease("+12125550100")]),
        admission.rebuild([live_lease("+12125550101")]),
    )
    assert sorted([first, second]) == [False, True]
    assert (await admission.usage()).global_active == 1
    assert not await admission.rebuild([live_lease("+12125550102")])


async def test_restore_puts_back_only_missing_live_leases(admission: Admission) -> None:
    held = await take(admission, "+12125550100")
    missing = live_lease("+12125550101")
    expired = live_lease("+12125550102", seconds=-1)
    assert await admission.restore([held, missing, expired]) == 1
    assert (await admission.usage()).by_campaign == {1: 2}
    [busy] = await admission.acquire_batch(scope(), [("x", "+12125550101")], ttl=60)
    assert busy.refused_by is Limit.NUMBER_BUSY
    assert await admission.restore([missing]) == 0


async def test_restore_skips_a_lease_released_meanwhile(admission: Admission) -> None:
    lease = await take(admission, "+12125550100")
    assert await admission.release(lease)
    assert await admission.restore([lease]) == 0
    assert (await admission.usage()).global_active == 0


async def test_restore_waits_for_a_rebuild(make_admission: MakeAdmission) -> None:
    admission = await make_admission(ready=False)
    assert await admission.restore([live_lease("+12125550100")]) == 0


async def test_restore_leaves_a_number_to_its_holder(admission: Admission) -> None:
    holder = await take(admission, "+12125550100")
    assert await admission.restore([live_lease("+12125550100")]) == 1
    assert (await admission.usage()).global_active == 2
    await admission.release(holder)
    [again] = await admission.acquire_batch(scope(), [("x", "+12125550100")], ttl=60)
    assert again.admitted


async def test_prune_drops_old_leases_that_are_not_kept(admission: Admission) -> None:
    kept, ended, lost = [await take(admission, f"+1212555010{i}") for i in range(3)]
    await asyncio.sleep(0.3)
    young = await take(admission, "+12125550109")
    assert await admission.prune({kept.id}, grace=0.2) == 2
    usage = await admission.usage()
    assert usage.global_active == 2
    assert not await admission.renew(ended, ttl=60)
    assert await admission.renew(young, ttl=60)
    [free] = await admission.acquire_batch(scope(), [("x", lost.phone)], ttl=60)
    assert free.admitted


async def test_usage_counts_only_live_leases(admission: Admission) -> None:
    await take(admission, "+12125550100", ttl=0.2, campaign=1, tenant=1)
    await take(admission, "+12125550101", ttl=60, campaign=2, tenant=2)
    await asyncio.sleep(0.3)
    usage = await admission.usage()
    assert usage.global_active == 1
    assert usage.by_tenant == {2: 1}
    assert usage.by_campaign == {2: 1}


async def test_a_number_twice_in_one_batch(admission: Admission) -> None:
    results = await admission.acquire_batch(
        scope(), [("a", "+12125550100"), ("b", "+12125550100")], ttl=60
    )
    assert [r.refused_by for r in results] == [None, Limit.NUMBER_BUSY]


async def test_several_rates_per_level(admission: Admission) -> None:
    """Per second with a burst, and per minute with its own burst: both hold."""
    per_minute = Rate(per_second=6 / 60, burst=4)
    paced = scope(cap=100, campaign_rate=(Rate(per_second=100, burst=10), per_minute))
    results = await admission.acquire_batch(paced, calls(8), ttl=60)
    assert sum(r.admitted for r in results) == 4
    refused = results[4]
    assert refused.refused_by is Limit.CAMPAIGN_RATE
    assert refused.retry_after is not None
    assert 9.9 <= refused.retry_after <= 10.01  # one call per 10 s once the burst is spent
    assert await admission.headroom(paced) == 0


async def test_global_and_tenant_rates_span_campaigns(admission: Admission) -> None:
    tenant_rate = Rate(per_second=1, burst=3)
    first = await admission.acquire_batch(scope(1, tenant_rate=tenant_rate), calls(2), 60)
    second = await admission.acquire_batch(scope(2, tenant_rate=tenant_rate), calls(2, 50), 60)
    assert [r.refused_by for r in first + second] == [None, None, None, Limit.TENANT_RATE]
    global_rate = Rate(per_second=1, burst=1)
    [ok] = await admission.acquire_batch(
        scope(3, tenant=9, global_rate=global_rate), calls(1, 80), 60
    )
    [no] = await admission.acquire_batch(
        scope(4, tenant=8, global_rate=global_rate), calls(1, 90), 60
    )
    assert ok.admitted
    assert no.refused_by is Limit.GLOBAL_RATE


def calls(n: int, start: int = 0) -> list[tuple[str, str]]:
    return [(f"call-{next(_ids)}", f"+1646555{start + i:04d}") for i in range(n)]

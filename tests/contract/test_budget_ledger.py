"""The budget ledger under one contract, in process and on Redis: reservations all or
nothing across accounts, never past a limit however many reserve at once, settled once to
the real cost, counted at their worst case when they expire unsettled."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from dialer.adapters.admission.budget_memory import MemoryBudgetLedger
from dialer.adapters.admission.budget_redis import RedisBudgetLedger
from dialer.adapters.admission.redis import RedisAdmission
from dialer.ports.budget import (
    Balance,
    BudgetAccount,
    BudgetLedger,
    BudgetScope,
    Refused,
    Reservation,
    Unknown,
)
from tests.support.redis import REDIS_URL, drop_namespace

TOTAL = BudgetAccount("c:1", 1_000, BudgetScope.CAMPAIGN_TOTAL)
DAY = BudgetAccount("c:1:2026-12-04", 300, BudgetScope.CAMPAIGN_DAY, keep_for=3 * 86400)
TENANT = BudgetAccount("t:1", 10_000, BudgetScope.TENANT_TOTAL)


@pytest.fixture(params=["memory", "redis"])
async def ledger(request: pytest.FixtureRequest) -> AsyncIterator[BudgetLedger]:
    if request.param == "memory":
        yield MemoryBudgetLedger(time.time)
        return
    namespace = f"test-{uuid.uuid4().hex}"
    admission = RedisAdmission.from_url(REDIS_URL, namespace=namespace)
    yield RedisBudgetLedger(admission.client, namespace=namespace)
    await admission.aclose()
    await drop_namespace(REDIS_URL, namespace)


def held(amount: int, *accounts: BudgetAccount, ttl: float = 60) -> Reservation:
    return Reservation(uuid.uuid4().hex, amount, accounts, ttl)


async def opened(ledger: BudgetLedger, *accounts: BudgetAccount, spent: int = 0) -> None:
    await ledger.open({a.key: (spent, a.keep_for) for a in accounts})


async def test_an_account_not_open_is_named_and_nothing_is_reserved(ledger: BudgetLedger) -> None:
    await opened(ledger, TOTAL)
    [result] = await ledger.reserve([held(10, TOTAL, DAY)])
    assert result == Unknown((DAY.key,))
    assert await ledger.balances([TOTAL.key, DAY.key]) == {TOTAL.key: Balance(0, 0)}


async def test_a_reservation_takes_every_account_or_none(ledger: BudgetLedger) -> None:
    await opened(ledger, TOTAL, DAY, TENANT)
    results = await ledger.reserve(
        [held(200, TOTAL, DAY, TENANT), held(200, TOTAL, DAY, TENANT), held(100, TOTAL, TENANT)]
    )
    assert results == [None, Refused(BudgetScope.CAMPAIGN_DAY), None]
    balances = await ledger.balances([TOTAL.key, DAY.key, TENANT.key])
    assert balances == {
        TOTAL.key: Balance(0, 300),
        DAY.key: Balance(0, 200),
        TENANT.key: Balance(0, 300),
    }


async def test_opening_keeps_an_open_account_as_it_is(ledger: BudgetLedger) -> None:
    await opened(ledger, TOTAL, spent=400)
    await opened(ledger, TOTAL, spent=0)
    assert await ledger.balances([TOTAL.key]) == {TOTAL.key: Balance(400, 0)}
    assert await ledger.reserve([held(601, TOTAL)]) == [Refused(BudgetScope.CAMPAIGN_TOTAL)]
    assert await ledger.reserve([held(600, TOTAL)]) == [None]


async def test_settling_counts_the_real_cost_once(ledger: BudgetLedger) -> None:
    await opened(ledger, TOTAL, TENANT)
    first, second = held(500, TOTAL, TENANT), held(400, TOTAL, TENANT)
    assert await ledger.reserve([first, second]) == [None, None]
    assert await ledger.settle([(first.id, 120), (second.id, None), (first.id, 999)]) == 2
    assert await ledger.settle([(first.id, 5)]) == 0
    assert await ledger.balances([TOTAL.key, TENANT.key]) == {
        TOTAL.key: Balance(520, 0),
        TENANT.key: Balance(520, 0),
    }


async def test_an_unsettled_reservation_expires_at_its_worst_case(ledger: BudgetLedger) -> None:
    await opened(ledger, TOTAL)
    lost = held(700, TOTAL, ttl=0.2)
    assert await ledger.reserve([lost]) == [None]
    await asyncio.sleep(0.3)
    assert await ledger.balances([TOTAL.key]) == {TOTAL.key: Balance(700, 0)}
    assert await ledger.settle([(lost.id, 1)]) == 0  # too late: counted at its worst


async def test_reservations_racing_from_many_tasks_never_pass_the_limit(
    ledger: BudgetLedger,
) -> None:
    await opened(ledger, TOTAL)

    async def reserve_one(amount: int) -> bool:
        [result] = await ledger.reserve([held(amount, TOTAL)])
        return result is None

    amounts = [7, 13, 29, 31, 50] * 40
    granted = await asyncio.gather(*(reserve_one(a) for a in amounts))
    total = sum(a for a, ok in zip(amounts, granted, strict=True) if ok)
    balance = (await ledger.balances([TOTAL.key]))[TOTAL.key]
    assert balance.reserved == total <= TOTAL.limit
    assert TOTAL.limit - total < max(amounts)  # it filled up, short by less than one call

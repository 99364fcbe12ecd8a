"""Send slots under contention on the real Redis: 4 spawned processes, each with senders of
two campaigns of one tenant, reserve slots as fast as they are given them (each sender waits
for its slot, as a worker does, then asks for the next). The slots' instants, on the server's
clock, never put more than rate + burst - 1 in any 1-second window of any limiter: the
campaigns' own and the tenant's — one fewer, in fact: the send slots hold one call of each
burst back. The senders ask for more than the tenant allows, and for more than the second
campaign allows, so both limiters are kept busy."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from dialer.adapters.admission.redis import RedisAdmission
from dialer.domain.model import Rate
from dialer.ports import Scope
from tests.support.redis import REDIS_URL, drop_namespace
from tests.support.stalled_clock import densest

pytestmark = pytest.mark.slow

US = 1_000_000
PROCESSES = 4
SENDERS = 4  # per campaign, per process
SECONDS = 3.0
CAMPAIGN_RATES = {1: Rate(40, 5), 2: Rate(20, 3)}
TENANT_RATE = Rate(50, 6)


def scope_of(campaign: int) -> Scope:
    return Scope(
        tenant_id=1,
        campaign_id=campaign,
        global_max=1000,
        campaign_max=1000,
        campaign_rate=CAMPAIGN_RATES[campaign],
        tenant_rate=TENANT_RATE,
    )


def allowed(rate: Rate) -> int:
    """The most slots a GCRA limiter gives in a half-open 1-second window."""
    return int(rate.per_second) + rate.burst - 1


def densest_second(instants_us: Sequence[int]) -> int:
    """The most instants in any half-open window [t, t + 1 s), in whole microseconds."""
    return densest(list(instants_us), US)


# ------------------------------------------------------------------ in each process


def send_slots(url: str, namespace: str, folder: str, process: int, barrier: Any) -> None:
    slots = asyncio.run(_send_slots(url, namespace, barrier))
    Path(folder, f"{process}.json").write_text(json.dumps(slots))


async def _send_slots(url: str, namespace: str, barrier: Any) -> list[tuple[int, int]]:
    admission = RedisAdmission.from_url(url, namespace=namespace)
    await asyncio.to_thread(barrier.wait)  # every process starts together
    try:
        stop = asyncio.get_running_loop().time() + SECONDS
        senders = [
            _sender(admission, campaign, stop) for campaign in (1, 2) for _ in range(SENDERS)
        ]
        return [slot for found in await asyncio.gather(*senders) for slot in found]
    finally:
        await admission.aclose()


async def _sender(admission: RedisAdmission, campaign: int, stop: float) -> list[tuple[int, int]]:
    slots: list[tuple[int, int]] = []
    loop = asyncio.get_running_loop()
    while loop.time() < stop:
        slot = await admission.reserve_send(scope_of(campaign), max_wait=10.0)
        assert slot.reserved
        slots.append((campaign, round(slot.at * US)))
        await asyncio.sleep(slot.wait)
    return slots


# ------------------------------------------------------------------ the test


def run_senders(folder: Path, namespace: str) -> list[tuple[int, int]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES, timeout=60)
    processes = [
        context.Process(
            target=send_slots, args=(REDIS_URL, namespace, str(folder), number, barrier)
        )
        for number in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=90)
        if process.is_alive():
            process.kill()
            process.join()
    assert [p.exitcode for p in processes] == [0] * PROCESSES
    return [
        (campaign, at)
        for path in folder.glob("*.json")
        for campaign, at in json.loads(path.read_text())
    ]


async def test_send_slots_across_processes_never_exceed_any_limiter(tmp_path: Path) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    try:
        slots = await asyncio.to_thread(run_senders, tmp_path, namespace)
    finally:
        await drop_namespace(REDIS_URL, namespace)
    tenant = [at for _, at in slots]
    first = [at for campaign, at in slots if campaign == 1]
    second = [at for campaign, at in slots if campaign == 2]
    print(
        f"\n{len(slots)} slots over {(max(tenant) - min(tenant)) / US:.2f} s; densest second: "
        f"tenant {densest_second(tenant)}/{allowed(TENANT_RATE)}, campaign 1 "
        f"{densest_second(first)}/{allowed(CAMPAIGN_RATES[1])}, campaign 2 "
        f"{densest_second(second)}/{allowed(CAMPAIGN_RATES[2])}"
    )
    assert densest_second(tenant) <= allowed(TENANT_RATE)
    assert densest_second(first) <= allowed(CAMPAIGN_RATES[1])
    # kept busy: the bound less the call held back is reached
    assert densest_second(second) == allowed(CAMPAIGN_RATES[2]) - 1
    # The tenant's limiter is kept busy too. Not quite at its rate: a slot the second campaign
    # waits for on its own limiter is also the tenant's, so the tenant's slots before it go
    # to whoever asks next (the cost of one joint reservation; never more sends).
    span = (max(tenant) - min(tenant)) / US
    assert len(tenant) >= 0.7 * TENANT_RATE.per_second * span

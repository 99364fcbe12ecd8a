"""The budget ledger's cost per call: reserve in batches (as the dispatcher does), then
settle each (as the event listener does), in process and on Redis. Run from the repository
root:

    .venv/bin/python -m benchmarks.budget_ledger [--calls 20000] [--batch 200]

It prints, per backend, the wall time and the CPU time of this process per call reserved
and settled, and the balance left (spent must equal the sum of the settled costs; reserved
must be 0). Redis's own CPU is not in the CPU figure: the wall figure includes it."""

from __future__ import annotations

import argparse
import asyncio
import platform
import time
import uuid
from datetime import UTC, datetime

from dialer.adapters.admission.budget_memory import MemoryBudgetLedger
from dialer.adapters.admission.budget_redis import RedisBudgetLedger
from dialer.adapters.admission.redis import RedisAdmission
from dialer.ports.budget import BudgetAccount, BudgetLedger, BudgetScope, Reservation

REDIS_URL = "redis://127.0.0.1:6379/15"
WORST, COST = 14_333, 4_000  # millionths: a 40 s worst case, a typical real cost


def accounts() -> tuple[BudgetAccount, ...]:
    limit = 10**15  # never refuses: the figure is the ledger's cost, not a refusal's
    return (
        BudgetAccount("c:1", limit, BudgetScope.CAMPAIGN_TOTAL),
        BudgetAccount("c:1:2026-12-04", limit, BudgetScope.CAMPAIGN_DAY, keep_for=86400),
        BudgetAccount("t:1", limit, BudgetScope.TENANT_TOTAL),
    )


async def run(ledger: BudgetLedger, calls: int, batch: int) -> tuple[float, float, str]:
    held = accounts()
    await ledger.open({a.key: (0, a.keep_for) for a in held})
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, calls, batch):
        reservations = [
            Reservation(uuid.uuid4().hex, WORST, held, 600.0)
            for _ in range(min(batch, calls - start))
        ]
        results = await ledger.reserve(reservations)
        assert all(r is None for r in results), results[:3]
        await ledger.settle([(r.id, COST) for r in reservations])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    balance = (await ledger.balances(["c:1"]))["c:1"]
    assert balance.spent == calls * COST, balance
    assert balance.reserved == 0, balance
    return wall * 1e6 / calls, cpu * 1e6 / calls, f"spent {balance.spent}, reserved 0"


async def main(calls: int, batch: int) -> None:
    print(f"# budget ledger, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}")
    print(f"# {calls} calls reserved in batches of {batch}, each settled in its batch")
    print("| backend | wall µs per call | CPU µs per call (this process) | balance |")
    print("|---|---|---|---|")
    memory = MemoryBudgetLedger(time.time)
    wall, cpu, note = await run(memory, calls, batch)
    print(f"| in process | {wall:.1f} | {cpu:.1f} | {note} |")
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    admission = RedisAdmission.from_url(REDIS_URL, namespace=namespace)
    try:
        wall, cpu, note = await run(
            RedisBudgetLedger(admission.client, namespace=namespace), calls, batch
        )
        print(f"| Redis | {wall:.1f} | {cpu:.1f} | {note} |")
        keys = [k async for k in admission.client.scan_iter(f"{{{namespace}}}:*")]
        if keys:
            await admission.client.delete(*keys)
    finally:
        await admission.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.batch))

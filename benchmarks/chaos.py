"""The chaos run at full size: a campaign of 20,000 leads dialled by 2 dispatcher and 3 worker
processes, one of them killed (SIGKILL, with its pool) every few seconds and restarted, the
admission Redis restarted once mid-run, and a provider that answers 5 % of creates with 5xx,
loses 2 % of callbacks and duplicates and reorders 5 % of them. Run from the repository root
(PostgreSQL, and RabbitMQ as the broker, at their standard local ports):

    .venv/bin/python -m benchmarks.chaos                 # 20,000 leads (17 minutes here)
    .venv/bin/python -m benchmarks.chaos --leads 3000    # a shorter run

It starts its own Redis on port 6390 (no persistence) — the one it restarts — and never
touches the machine's shared Redis; it creates a database of its own and drops it at the end.
It prints the figures (see benchmarks/harness/chaos.py for what each one proves) and exits
non-zero if an invariant was violated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.harness.chaos import ChaosPlan, ChaosReport, chaos_database, run_chaos
from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine

PG_SERVER = os.environ.get("DIALER_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--cap", type=int, default=60, help="global and campaign cap")
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between kills")
    parser.add_argument("--redis-restart-at", type=float, default=120.0, help="seconds in")
    parser.add_argument("--redis-port", type=int, default=6390)
    parser.add_argument("--seconds", type=float, default=5400.0, help="give up after this")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def violations(report: ChaosReport, plan: ChaosPlan) -> list[str]:
    stats = report.stats
    checks = {
        "leads not terminal": report.unfinished == 0,
        "repeated originations": stats.get("repeated_originations") == 0,
        "overlapping calls to one number": stats.get("overlapping_calls_to_same_number") == 0,
        "peak concurrency above the cap": stats.get("peak_active", 0) <= plan.cap,
        "dead letters missing": not report.missing_letters,
        "unexpected dead letters": not report.unexpected_letters,
        "orphans not settled by the reaper": report.orphans_reaped == plan.orphans,
        "leases left": report.leases_left == 0,
        "stored callbacks answered non-2xx": stats.get("callbacks_answered_4xx") == 0
        and stats.get("callbacks_answered_5xx") == 0,
    }
    return [name for name, ok in checks.items() if not ok]


async def main() -> int:
    args = parse()
    plan = ChaosPlan(
        leads=args.leads,
        cap=args.cap,
        lease_ttl=75,  # ring 5 s + time limit 10 s + the 60 s margin: the campaign check holds
        seconds=args.seconds,
        kill_every=args.kill_every,
        redis_restart_at=args.redis_restart_at,
        redis_port=args.redis_port,
        seed=args.seed,
        quiet=False,
    )
    print(
        f"chaos: {plan.leads} leads, cap {plan.cap}, {plan.workers} workers and "
        f"{plan.dispatchers} dispatchers, a kill every {plan.kill_every:g} s, Redis restarted at "
        f"{plan.redis_restart_at:g} s; {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        flush=True,
    )
    logs = Path(tempfile.mkdtemp(prefix="dialer-chaos-"))
    async with chaos_database(PG_SERVER) as url:
        engine = make_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        report = await run_chaos(plan, url, logs)
    print("\n".join(report.lines()))
    print(f"calls per second overall: {report.stats.get('calls_created', 0) / report.seconds:.1f}")
    print(f"process logs: {logs}")
    failed = violations(report, plan)
    print("invariants: " + ("all hold" if not failed else "VIOLATED: " + ", ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

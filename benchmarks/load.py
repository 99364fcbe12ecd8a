"""Load scenarios against a whole deployment: normal (50 calls/s offered), peak (200) and
stress (500), each bounded in time.

    .venv/bin/python -m benchmarks.load              # 60 s per scenario (about 6 minutes)
    .venv/bin/python -m benchmarks.load --quick      # 15 s per scenario

The deployment is the one of benchmarks/e2e.py (its own database, private Redis on
--redis-port, 2 dispatchers, 2 workers, 2 listeners, the simulator as its own process). A
scenario offers its load as leads falling due one after the other at its rate, with the
campaign's rate set to the same figure (burst 0.2 s of it), and measures:

* call setup: the attempt created (the dispatcher's record) → the provider accepted the create
  (the simulator's own receive instant, per number), p50/p95/p99; targets p50 < 200 ms and
  p95 < 800 ms;
* what happens past capacity: leads due and not yet dialled every 5 s (the queue), call starts
  per second at the simulator, creates the provider refused, attempts not sent, non-2xx
  webhook answers, peak live calls against the cap.

Degrading gracefully means: the backlog grows and starts per second plateau, with zero failed
creates caused by us, zero 5xx from our listeners and no cap overshoot. Exits 1 if an
invariant was violated (cap, one call per number, rate overshoot at the provider).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from datetime import UTC, datetime

from benchmarks.deployment import (
    ProcessSampler,
    Topology,
    campaign_with_leads,
    deployment,
    machine,
    ms,
    simulator_config,
)
from benchmarks.e2e import StepResult, burst_of, campaign_settings, run_step, set_rate, warm_up
from dialer.domain.model import Rate

SCENARIOS = (("normal", 50.0), ("peak", 200.0), ("stress", 500.0))
SETUP_P50, SETUP_P95 = 0.200, 0.800


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per scenario")
    parser.add_argument("--cap", type=int, default=1000, help="campaign cap")
    parser.add_argument("--dispatchers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--listeners", type=int, default=2)
    parser.add_argument("--redis-port", type=int, default=6391)
    parser.add_argument("--quick", action="store_true", help="15 s per scenario")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 15.0
    return args


def row(name: str, r: StepResult) -> str:
    p50, p95, p99 = r.setup
    met = p50 < SETUP_P50 and p95 < SETUP_P95
    queue = f"{r.backlog[0]:,} → {r.backlog[-1]:,}" if r.backlog else "—"
    return (
        f"| {name} | {r.rate:g} | {r.achieved:.1f} | {ms(p50)} / {ms(p95)} / {ms(p99)} | "
        f"{'yes' if met else 'no'} | {ms(r.queue_p50)} | {queue} | {r.left_undialled:,} | "
        f"{r.provider_refusals} | {r.not_sent} | {r.webhook_errors} | "
        f"{r.peak_active} / {r.cap} | {r.max_1s} / {r.allowed_1s} |"
    )


HEADER = (
    "| scenario | offered /s | starts/s † | setup p50 / p95 / p99 ms | target met | "
    "created → sent p50 ms | due, undialled (first → last 5 s mark) | left at the end | "
    "creates refused † | not sent | webhook non-2xx | peak live † / cap | "
    "max starts in 1 s † / allowed |\n"
    "|---|---:|---:|---:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


async def main() -> int:
    args = parse()
    topology = Topology(
        dispatchers=args.dispatchers,
        workers=args.workers,
        listeners=args.listeners,
        redis_port=args.redis_port,
    )
    print(
        f"load scenarios, {args.seconds:g} s each; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        flush=True,
    )
    leads = 20 + sum(math.ceil(rate * args.seconds) for _, rate in SCENARIOS)
    results: list[tuple[str, StepResult]] = []
    async with deployment(topology, simulator_config(), "load") as deploy:
        sampler = ProcessSampler(deploy.supervisor)
        sampler.start()
        try:
            campaign, first = await campaign_with_leads(
                deploy, campaign_settings(args.cap, Rate(1, 1)), leads
            )
            print(f"loaded {leads:,} leads; {machine()}", flush=True)
            offset = await warm_up(deploy, campaign.id, first)
            for name, rate in SCENARIOS:
                burst = burst_of(rate, 0.2)
                result = await run_step(
                    deploy, sampler, campaign.id, first + offset, rate, args.seconds,
                    args.cap, burst, None,
                )  # fmt: skip
                offset += int(rate * args.seconds)
                results.append((name, result))
            await set_rate(deploy, campaign.id, Rate(1, 1))
        finally:
            await sampler.stop()
            print(f"process logs: {deploy.logs}; {machine()}")
    print(HEADER)
    for name, result in results:
        print(row(name, result))
    failed = [f"{name}: {v}" for name, r in results for v in r.violations()]
    errors = [
        f"{name}: {r.provider_refusals} refused, {r.not_sent} not sent, "
        f"{r.webhook_errors} webhook non-2xx"
        for name, r in results
        if r.provider_refusals or r.not_sent or r.webhook_errors
    ]
    print("errors: " + ("none" if not errors else "; ".join(errors)))
    print("invariants: " + ("all hold" if not failed else "VIOLATED: " + "; ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

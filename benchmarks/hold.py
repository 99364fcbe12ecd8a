"""Holding 10,000 concurrent calls: admission latency does not grow with the leases held.

    .venv/bin/python -m benchmarks.hold             # 10,000 calls (about 5 minutes here)
    .venv/bin/python -m benchmarks.hold --quick     # 1,000 calls

A whole deployment (as in benchmarks/e2e.py: its own database, a private Redis on
--redis-port, 2 dispatchers, 2 workers, 2 listeners, the simulator as its own process) with
the global cap and the campaign cap both at --calls (10,000), every call answered and talking
for as good as ever (exponential talk time with a mean of 10^9 s, under a 1,200 s time limit;
lease 1,800 s). The campaign's leads are made due a quarter at a time; once the simulator sees
each quarter live, the harness measures admission with the calls held.

The probe drives admission directly — the very Lua script and Redis keys the dispatchers use
— so that its latency is not mixed with the claim and the insert around it: one acquire (one
call, a number of its own) then its release, sequentially, from this process. The probe's
scope is the same global set with a tenant and a campaign of its own; at each level it asks
for one slot more than the calls held (global cap = held + 1), so that it is admitted and
measures the admitting path. At 10,000 it also measures an acquire refused by the full
global cap (cap 10,000), the path a dispatcher meets when the deployment is full.

Exits 1 if the simulator ever saw more live calls than the cap, saw a number in two calls at
once, or did not see the calls held.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

from benchmarks.deployment import (
    Deployment,
    ProcessSampler,
    Topology,
    campaign_with_leads,
    deployment,
    machine,
    percentile,
    schedule,
    simulator_config,
)
from benchmarks.e2e import CALLER_ID
from dialer.adapters.admission.redis import RedisAdmission
from dialer.domain.model import CampaignSettings, Rate
from dialer.domain.retry import RetryPolicy
from dialer.ports import Scope

PROBE_TENANT = PROBE_CAMPAIGN = 999_999_999
FILL_RATE = 200.0  # the campaign's rate while filling: above what this machine sustains


@dataclass
class Level:
    held: int  # live calls the simulator saw when the probe ran
    leases: int  # leases in admission (global set) at the same moment
    acquire_p50: float
    acquire_p99: float
    release_p50: float
    server_us: float  # Redis's own microseconds per EVALSHA (INFO commandstats) during the probe
    refused_p50: float | None = None
    refused_p99: float | None = None

    def row(self) -> str:
        refused = (
            f"{self.refused_p50 * 1000:.2f} / {self.refused_p99 * 1000:.2f}"
            if self.refused_p50 is not None and self.refused_p99 is not None
            else "—"
        )
        return (
            f"| {self.held:,} | {self.leases:,} | {self.acquire_p50 * 1000:.2f} | "
            f"{self.acquire_p99 * 1000:.2f} | {self.release_p50 * 1000:.2f} | "
            f"{self.server_us:.1f} | {refused} |"
        )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=1000, help="acquires per level")
    parser.add_argument("--redis-port", type=int, default=6391)
    parser.add_argument("--quick", action="store_true", help="1,000 calls, 300 probes")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.probes = 1000, 300
    return args


def settings(calls: int) -> CampaignSettings:
    return CampaignSettings(
        "hold",
        CALLER_ID,
        max_concurrency=calls,
        rate=Rate(FILL_RATE, int(FILL_RATE // 5)),
        retry=RetryPolicy(1),
        ramp_up=0,
        ring_timeout=5,
        max_call_duration=1200,
    )


def probe_scope(global_max: int) -> Scope:
    return Scope(PROBE_TENANT, PROBE_CAMPAIGN, global_max=global_max, campaign_max=10)


async def probe(
    admission: RedisAdmission, held: int, count: int
) -> tuple[list[float], list[float]]:
    """``count`` sequential acquire + release of one call; their latencies (seconds)."""
    scope = probe_scope(held + 1)
    acquires, releases = [], []
    for n in range(count):
        request = [(uuid.uuid4().hex, f"+1999{n % 10_000_000:07d}")]
        started = time.perf_counter()
        result = (await admission.acquire_batch(scope, request, 60))[0]
        acquires.append(time.perf_counter() - started)
        if result.lease is None:
            raise RuntimeError(f"probe refused ({result.refused_by}) with {held} held")
        started = time.perf_counter()
        await admission.release(result.lease)
        releases.append(time.perf_counter() - started)
    return acquires, releases


async def refused(admission: RedisAdmission, cap: int, count: int) -> list[float]:
    """Acquires refused by a full global cap (nothing to release)."""
    scope = probe_scope(cap)
    times = []
    for n in range(count):
        started = time.perf_counter()
        result = (await admission.acquire_batch(scope, [(uuid.uuid4().hex, f"+1998{n:07d}")], 60))[
            0
        ]
        times.append(time.perf_counter() - started)
        if result.lease is not None:
            raise RuntimeError("the probe was admitted above the global cap")
    return times


async def wait_live(deploy: Deployment, target: int, seconds: float) -> int:
    """Until the simulator sees ``target`` live calls (bounded); the count it saw."""
    deadline = time.monotonic() + seconds
    while True:
        active = int((await deploy.sim_stats())["active_now"])
        if active >= target or time.monotonic() > deadline:
            return active
        deploy.check_alive()
        await asyncio.sleep(2)


async def measure(deploy: Deployment, admission: RedisAdmission, held: int, probes: int) -> Level:
    leases = (await admission.usage()).global_active
    redis = Redis.from_url(deploy.settings.redis_url or "")
    try:
        await redis.config_resetstat()
        acquires, releases = await probe(admission, leases, probes)
        evalsha = (await redis.info("commandstats")).get("cmdstat_evalsha", {})
    finally:
        await redis.aclose()
    level = Level(
        held,
        leases,
        percentile(acquires, 50),
        percentile(acquires, 99),
        percentile(releases, 50),
        float(evalsha.get("usec_per_call", "nan")),
    )
    print(f"  {level.row()}", flush=True)
    return level


async def run(args: argparse.Namespace, deploy: Deployment) -> int:
    campaign, first = await campaign_with_leads(deploy, settings(args.calls), args.calls)
    print(f"loaded {args.calls:,} leads; {machine()}", flush=True)
    redis_url = deploy.settings.redis_url or ""
    admission = RedisAdmission.from_url(redis_url, namespace=deploy.settings.redis_namespace)
    levels = []
    started = time.monotonic()
    try:
        levels.append(await measure(deploy, admission, 0, args.probes))
        quarter = args.calls // 4
        for k in range(4):
            now = datetime.now(UTC)
            await schedule(deploy, campaign.id, first + k * quarter, quarter, FILL_RATE, now)
            held = await wait_live(deploy, (k + 1) * quarter, quarter / 10 + 120)
            levels.append(await measure(deploy, admission, held, args.probes))
        full = await refused(admission, args.calls, args.probes)
        levels[-1].refused_p50, levels[-1].refused_p99 = percentile(full, 50), percentile(full, 99)
        stats = await deploy.sim_stats()
    finally:
        await admission.aclose()
    fill = time.monotonic() - started
    print("| calls live † | leases held | acquire p50 ms | acquire p99 ms | release p50 ms | "
          "Redis µs per script (all clients) | "
          "refused at the cap p50 / p99 ms |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for level in levels:
        print(level.row())
    peak, overlaps = stats["peak_active"], stats["overlapping_calls_to_same_number"]
    print(
        f"simulator: {stats['calls_created']:,} calls created, {stats['active_now']:,} live, peak "
        f"{peak:,} (cap {args.calls:,}), overlaps {overlaps}, max calls per number "
        f"{stats['max_calls_per_number']}; filled and measured in {fill:.0f} s"
    )
    failed = []
    if peak > args.calls:
        failed.append(f"peak {peak} above the cap {args.calls}")
    if peak < args.calls:
        failed.append(f"only {peak} live calls reached (of {args.calls})")
    if overlaps or stats["max_calls_per_number"] > 1:
        failed.append("a number called twice")
    print("invariants: " + ("all hold" if not failed else "VIOLATED: " + "; ".join(failed)))
    return 1 if failed else 0


async def main() -> int:
    args = parse()
    calls = str(args.calls)
    topology = Topology(
        redis_port=args.redis_port,
        env={
            "DIALER_GLOBAL_MAX_CONCURRENCY": calls,
            "DIALER_CAMPAIGN_MAX_CONCURRENCY": calls,
            "DIALER_LEASE_TTL_SECONDS": "1800",
        },
    )
    sim = simulator_config(talk_mean=1e9, outcome_mix={"answer": 1.0})
    print(f"hold {args.calls:,} calls; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    async with deployment(topology, sim, "hold") as deploy:
        sampler = ProcessSampler(deploy.supervisor, every=10.0)
        sampler.start()
        try:
            return await run(args, deploy)
        finally:
            await sampler.stop()
            last = sampler.samples[-1].rss if sampler.samples else {}
            print("RSS MiB at the end: " + ", ".join(f"{k} {v:.0f}" for k, v in last.items()))
            print(f"process logs: {deploy.logs}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

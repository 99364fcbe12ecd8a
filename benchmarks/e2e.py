"""End to end: a whole deployment on this machine dials one campaign at rising target rates.

    .venv/bin/python -m benchmarks.e2e                      # rates 25 50 100 200 400, 30 s each
    .venv/bin/python -m benchmarks.e2e --quick              # 25 and 50 calls/s, 10 s each
    .venv/bin/python -m benchmarks.e2e --profile-rate 100   # py-spy on a dispatcher, a worker
                                                            # and a listener during that step
    .venv/bin/python -m benchmarks.e2e --rates 25 50 75 --all-steps   # go on past a failed step
    .venv/bin/python -m benchmarks.e2e --long-minutes 10    # 1,000,000 leads loaded; RSS slope
    .venv/bin/python -m benchmarks.e2e --quick --endpoints  # with two event webhook endpoints:
                                                            # one answering in 5 s, one refusing
    .venv/bin/python -m benchmarks.e2e --quick --pre-dial   # every call asks a hook (instant)

PostgreSQL (a database of its own, dropped at the end), RabbitMQ (queues of its own), a
private Redis on --redis-port (6391), the simulator as its own process, 2 listeners
(``dialer serve --api-only``), beat, 2 workers and 2 dispatchers. The campaign holds
--leads leads (100,000), none due at first. Each step sets the campaign's rate to the target
(burst: --burst-seconds of it, 0.2 s) and makes the next ``rate × seconds`` leads due one
after the other at that rate, so that a dispatcher that keeps up dials each lead as it
becomes due. Calls are short (ring 0.2–1 s, talk 1.5 s on average, 60 % answered), the
campaign cap is high (5,000). A step's leads still undialled 2 s after its end are
withdrawn (counted), so the next starts clean.

Per step, every figure from outside Dialer where it can be: call starts and their densest
1-second window from the simulator's observer (and, to tell the limiter from delivery
jitter, from the attempts' created_at and sent_at); peak concurrency, overlaps and calls per
number from the observer; dispatch lag (lead due → attempt created) from the store; webhook
latency from the listeners' ``dialer_webhook_request_seconds``; CPU and memory from the kernel.

The run exits 1 if an invariant was violated at any step: more starts in a 1-second window
at the provider than the limiter allows (rate + burst − 1), more live calls than the cap, a
number called twice or in two calls at once, an attempt originated twice.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import subprocess
import sys
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from benchmarks.deployment import (
    FAR_FUTURE,
    Deployment,
    ProcessSampler,
    Topology,
    attempts_between,
    campaign_with_leads,
    deployment,
    due_backlog,
    machine,
    max_in_window,
    ms,
    percentile,
    schedule,
    simulator_config,
    slope_mib_per_min,
    start_instants,
    starts_by_number,
)
from benchmarks.tenant_endpoints import ENV as ENDPOINTS_ENV
from benchmarks.tenant_endpoints import instant_hook, subscribe_hook, unhelpful_endpoints
from dialer.domain.model import Campaign, CampaignSettings, Rate
from dialer.domain.pre_dial import OnError, PreDialHook
from dialer.domain.retry import RetryPolicy

CALLER_ID = "+14155550100"
GRACE_SECONDS = 2.0  # after a step: its last leads may still be dialled, then the rest withdrawn
DRAIN_SECONDS = 20.0  # after a step: until its leads are dialled and its calls have ended


@dataclass
class StepResult:
    rate: float
    burst: int
    seconds: float
    scheduled: int
    dialled: int = 0
    starts_in_step: int = 0
    max_1s: int = 0
    max_1s_recorded: int = 0  # the same from the attempts' created_at (the dispatchers' side)
    max_1s_sent: int = 0  # … and from their sent_at (the workers' marker, just before the request)
    peak_active: int = 0
    overlaps: int = 0
    max_per_number: int = 0
    repeated: int = 0
    lag_p50: float = float("nan")
    lag_p99: float = float("nan")
    setup: tuple[float, float, float] = (math.nan, math.nan, math.nan)  # p50, p95, p99
    queue_p50: float = float("nan")  # attempt created -> the worker's sent marker
    left_undialled: int = 0  # due during the step, not dialled by its end (withdrawn)
    backlog: list[int] = field(default_factory=list)  # due and undialled, every 5 s
    provider_refusals: int = 0  # creates the simulator answered 4xx/5xx/429
    not_sent: int = 0  # attempts voided or failed because the create did not go through
    webhook_p99: float = float("nan")
    webhooks: int = 0
    webhook_errors: int = 0
    cpu_per_call: float = float("nan")
    calls: int = 0
    cap: int = 0

    @property
    def achieved(self) -> float:
        return self.starts_in_step / self.seconds

    @property
    def kept_up(self) -> bool:
        return self.achieved >= 0.95 * self.rate and self.left_undialled <= self.scheduled // 100

    @property
    def allowed_1s(self) -> int:
        """The most starts a GCRA limiter of this rate and burst admits in any half-open
        1-second window: the burst at once, then one every 1/rate."""
        return math.ceil(self.rate) + self.burst - 1

    def violations(self) -> list[str]:
        found = []
        if self.max_1s > self.allowed_1s:
            found.append(
                f"{self.max_1s} starts in 1 s at a rate of {self.rate:g}/s, burst {self.burst}"
            )
        if self.peak_active > self.cap:
            found.append(f"peak {self.peak_active} above the cap {self.cap}")
        if self.overlaps or self.max_per_number > 1 or self.repeated:
            found.append(
                f"overlaps {self.overlaps}, max calls per number {self.max_per_number}, "
                f"repeated originations {self.repeated}"
            )
        return found

    def row(self) -> str:
        webhook = ms(self.webhook_p99)  # a bucket's upper bound
        webhook = webhook if webhook.startswith((">", "—")) else f"≤ {webhook}"
        return (
            f"| {self.rate:g} (burst {self.burst}) | {self.achieved:.1f} | "
            f"{self.max_1s} / {self.allowed_1s} | "
            f"{self.peak_active} / {self.cap} | {self.dialled:,} / {self.scheduled:,} | "
            f"{ms(self.lag_p50)} | {ms(self.lag_p99)} | {webhook} | "
            f"{self.webhook_errors} | {self.cpu_per_call * 1000:.1f} | "
            f"{'yes' if self.kept_up else 'no'} |"
        )


HEADER = (
    "| target /s | achieved starts/s † | max starts in 1 s † / allowed | peak live † / cap | "
    "leads dialled / due | lag p50 ms | lag p99 ms | webhook p99 ms | webhook non-2xx | "
    "CPU ms per call | kept up |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|"
)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[25, 50, 100, 200, 400])
    parser.add_argument("--seconds", type=float, default=30.0, help="per step")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--cap", type=int, default=5000, help="campaign cap")
    parser.add_argument("--dispatchers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--listeners", type=int, default=2)
    parser.add_argument("--redis-port", type=int, default=6391)
    parser.add_argument(
        "--burst-seconds", type=float, default=0.2, help="the rate's burst, in seconds of it"
    )
    parser.add_argument("--all-steps", action="store_true", help="go on after a step fails")
    parser.add_argument("--profile-rate", type=float, help="py-spy during the step at this rate")
    parser.add_argument("--long-minutes", type=float, help="the long run instead of the steps")
    parser.add_argument("--long-rate", type=float, default=50.0)
    parser.add_argument("--long-leads", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="25 and 50/s, 10 s, 5,000 leads")
    parser.add_argument(
        "--endpoints",
        action="store_true",
        help="subscribe a 5 s endpoint and a refusing one to every attempt and lead event",
    )
    parser.add_argument(
        "--pre-dial", action="store_true", help="every call asks a hook answering at once"
    )
    args = parser.parse_args()
    if args.quick:
        args.rates, args.seconds, args.leads = [25, 50], 10.0, 5000
    return args


def burst_of(rate: float, burst_seconds: float) -> int:
    return max(1, math.ceil(rate * burst_seconds))


def campaign_settings(cap: int, rate: Rate) -> CampaignSettings:
    return CampaignSettings(
        "e2e",
        CALLER_ID,
        max_concurrency=cap,
        rate=rate,
        retry=RetryPolicy(1),
        ramp_up=0,
        ring_timeout=5,
        max_call_duration=10,
    )


async def set_rate(deploy: Deployment, campaign_id: int, rate: Rate) -> None:
    """A running campaign's dispatchers pick up new settings at their next tick."""
    store = deploy.runtime.services.store
    async with store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
        settings = replace(campaign.settings, rate=rate)
        await uow.campaigns.save_settings(campaign, settings, datetime.now(UTC))
        await uow.commit()


async def withdraw(deploy: Deployment, first: int, count: int) -> int:
    """Leads of the step still waiting when it ends are put back out of reach, so that the
    next step starts clean; how many."""
    conn = await asyncpg.connect(deploy.database_url)
    try:
        status = await conn.execute(
            """UPDATE leads SET next_attempt_at = $1 WHERE id >= $2::bigint
               AND id < $2::bigint + $3 AND status = 'PENDING' AND attempts = 0""",
            FAR_FUTURE, first, count,
        )  # fmt: skip
    finally:
        await conn.close()
    return int(status.split()[-1])


async def wait_drained(deploy: Deployment, first: int, count: int, seconds: float) -> None:
    """Until every scheduled lead has its attempt and the simulator has no live call."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dialled = len(await attempts_between(deploy, first, count))
        active = (await deploy.sim_stats())["active_now"]
        if dialled >= count and active == 0:
            return
        await asyncio.sleep(0.5)


async def run_step(
    deploy: Deployment,
    sampler: ProcessSampler,
    campaign_id: int,
    first: int,
    rate: float,
    seconds: float,
    cap: int,
    burst: int,
    profile: Path | None,
) -> StepResult:
    count = int(rate * seconds)
    result = StepResult(rate, burst, seconds, count, cap=cap)
    await deploy.sim_reset()
    hooks_before = await deploy.webhook_histogram()
    cpu_before = sampler.dialer_cpu()
    await set_rate(deploy, campaign_id, Rate(rate, burst))
    start = datetime.now(UTC) + timedelta(seconds=1)
    await schedule(deploy, campaign_id, first, count, rate, start)
    profilers = start_profilers(deploy, profile, seconds) if profile else []
    end = start + timedelta(seconds=seconds)
    while (left := (end - datetime.now(UTC)).total_seconds()) > 0:
        await asyncio.sleep(min(5.0, left))
        deploy.check_alive()
        result.backlog.append(await due_backlog(deploy, campaign_id))
    await asyncio.sleep(GRACE_SECONDS)
    result.left_undialled = await withdraw(deploy, first, count)
    await wait_drained(deploy, first, count - result.left_undialled, DRAIN_SECONDS)
    for process in profilers:
        process.wait(timeout=60)
    sampler.sample()
    stats = await deploy.sim_stats()
    starts = start_instants(stats)
    t0 = start.timestamp()
    result.starts_in_step = sum(t0 <= t < t0 + seconds for t in starts)
    result.max_1s = max_in_window(starts)
    result.peak_active = stats["peak_active"]
    result.overlaps = stats["overlapping_calls_to_same_number"]
    result.max_per_number = stats["max_calls_per_number"]
    result.repeated = stats["repeated_originations"]
    result.calls = stats["calls_created"]
    result.provider_refusals = sum(
        stats[k] for k in ("rejected_4xx", "rejected_5xx", "rejected_429")
    )
    attempts = await attempts_between(deploy, first, count)
    result.not_sent = sum(
        a.status in ("CANCELED", "FAILED") and a.sent_at is None for a in attempts
    )
    accepted = starts_by_number(stats)
    setups = [accepted[a.phone] - a.created_at.timestamp() for a in attempts if a.phone in accepted]
    result.setup = (percentile(setups, 50), percentile(setups, 95), percentile(setups, 99))
    queued = [(a.sent_at - a.created_at).total_seconds() for a in attempts if a.sent_at]
    result.queue_p50 = percentile(queued, 50)
    result.dialled = len(attempts)
    result.max_1s_recorded = max_in_window(sorted(a.created_at.timestamp() for a in attempts))
    result.max_1s_sent = max_in_window(sorted(a.sent_at.timestamp() for a in attempts if a.sent_at))
    lags = [(a.created_at.timestamp() - (t0 + (a.lead_id - first) / rate)) for a in attempts]
    result.lag_p50, result.lag_p99 = percentile(lags, 50), percentile(lags, 99)
    hooks = (await deploy.webhook_histogram()).minus(hooks_before)
    result.webhook_p99 = hooks.quantile_bound(0.99)
    result.webhooks, result.webhook_errors = int(hooks.count), int(hooks.errors())
    if result.calls:
        result.cpu_per_call = (sampler.dialer_cpu() - cpu_before) / result.calls
    print(
        f"  step {rate:g}/s: {result.starts_in_step} starts in {seconds:g} s "
        f"({result.achieved:.1f}/s), densest second {result.max_1s} at the provider and "
        f"{result.max_1s_recorded} by created_at, {result.max_1s_sent} by sent_at, due and "
        f"undialled every "
        f"5 s {result.backlog}, withdrawn {result.left_undialled}, {result.webhooks} webhooks, "
        f"call setup p50/p95/p99 {' / '.join(ms(v) for v in result.setup)} ms, "
        f"attempts {dict(Counter(a.status for a in attempts))}",
        flush=True,
    )
    return result


def start_profilers(deploy: Deployment, out: Path, seconds: float) -> list[subprocess.Popen[bytes]]:
    """py-spy record (raw collapsed stacks, 50 Hz, without pausing the target) on the first
    dispatcher, the first worker with its pool, and the first listener."""
    out.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).parent / "py-spy")
    targets = {"dispatcher-1": [], "worker-1": ["--subprocesses"], "listener-1": []}
    processes = []
    for name, extra in targets.items():
        argv = [spy, "record", "--nonblocking", "-r", "50", "-d", str(int(seconds))]
        argv += ["--format", "raw", "-o", str(out / f"{name}.txt"), *extra]
        argv += ["--pid", str(deploy.supervisor.pid(name))]
        processes.append(
            subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    return processes


async def warm_up(deploy: Deployment, campaign_id: int, first: int, leads: int = 20) -> int:
    """A few calls end to end before measuring, so every process has connected and warmed
    up; returns how many leads it used."""
    await set_rate(deploy, campaign_id, Rate(10, 2))
    await schedule(deploy, campaign_id, first, leads, 10, datetime.now(UTC))
    deadline = time.monotonic() + 120
    while len(await attempts_between(deploy, first, leads)) < leads:
        deploy.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"warm-up calls not dialled in 120 s (logs: {deploy.logs})")
        await asyncio.sleep(0.5)
    await wait_drained(deploy, first, leads, DRAIN_SECONDS)
    return leads


async def steps(args: argparse.Namespace, deploy: Deployment, sampler: ProcessSampler) -> int:
    async with AsyncExitStack() as stack:
        settings = campaign_settings(args.cap, Rate(1, 1))
        if args.pre_dial:
            hook_url, asked = await stack.enter_async_context(instant_hook())
            settings = replace(settings, pre_dial=PreDialHook(hook_url, 2.0, OnError.PROCEED))
        campaign, first = await campaign_with_leads(deploy, settings, args.leads)
        print(f"loaded {args.leads:,} leads; {machine()}", flush=True)
        if args.pre_dial:
            await subscribe_hook(deploy.runtime.services, campaign.tenant_id, hook_url)
            stack.callback(lambda: print(f"  the pre-dial hook answered {asked[0]}", flush=True))
        if args.endpoints:
            services = deploy.runtime.services
            urls = await stack.enter_async_context(
                unhelpful_endpoints(services, campaign.tenant_id)
            )
            print(f"event webhooks to {urls}", flush=True)
        return await _steps(args, deploy, sampler, campaign.id, first)


async def _steps(
    args: argparse.Namespace,
    deploy: Deployment,
    sampler: ProcessSampler,
    campaign_id: int,
    first: int,
) -> int:
    campaign = await _campaign(deploy, campaign_id)
    offset = await warm_up(deploy, campaign.id, first)
    sampler.samples.clear()
    results: list[StepResult] = []
    for rate in args.rates:
        count = int(rate * args.seconds)
        if offset + count > args.leads:
            print(f"  (not enough leads left for {rate:g}/s: stopping)")
            break
        profile = None
        if args.profile_rate == rate:
            profile = Path(deploy.logs) / f"profile-{rate:g}"
        burst = burst_of(rate, args.burst_seconds)
        result = await run_step(
            deploy, sampler, campaign.id, first + offset, rate, args.seconds, args.cap, burst,
            profile,
        )  # fmt: skip
        offset += count
        results.append(result)
        if profile:
            print_profile(profile)
        if not result.kept_up and not args.all_steps:
            break
    await set_rate(
        deploy, campaign.id, Rate(1, 1)
    )  # the rest of the leads are not due: nothing more
    print(HEADER)
    for result in results:
        print(result.row())
    sustained = max((r.rate for r in results if r.kept_up and not r.violations()), default=0)
    print(f"sustained at zero overshoot: {sustained:g} calls/s (the highest step that kept up)")
    print_memory(sampler)
    print_cpu(sampler)
    failed = [f"{r.rate:g}/s: {v}" for r in results for v in r.violations()]
    print("invariants: " + ("all hold" if not failed else "VIOLATED: " + "; ".join(failed)))
    return 1 if failed else 0


async def _campaign(deploy: Deployment, campaign_id: int) -> Campaign:
    async with deploy.runtime.services.store.unit() as uow:
        return await uow.campaigns.get(campaign_id)


async def long_run(args: argparse.Namespace, deploy: Deployment, sampler: ProcessSampler) -> int:
    started = time.monotonic()
    campaign, first = await campaign_with_leads(
        deploy, campaign_settings(args.cap, Rate(1, 1)), args.long_leads
    )
    print(
        f"loaded {args.long_leads:,} leads in {time.monotonic() - started:.0f} s; {machine()}",
        flush=True,
    )
    seconds = args.long_minutes * 60
    count = int(args.long_rate * seconds)
    await warm_up(deploy, campaign.id, first)
    first += 20
    await set_rate(deploy, campaign.id, Rate(args.long_rate, burst_of(args.long_rate, 0.2)))
    await deploy.sim_reset()
    cpu_before = sampler.dialer_cpu()
    sampler.samples.clear()
    start = datetime.now(UTC) + timedelta(seconds=1)
    await schedule(deploy, campaign.id, first, count, args.long_rate, start)
    next_line = time.monotonic()
    while (datetime.now(UTC) - start).total_seconds() < seconds:
        deploy.check_alive()
        if time.monotonic() >= next_line:
            stats = await deploy.sim_stats()
            rss = sampler.samples[-1].rss if sampler.samples else {}
            print(
                f"  {(datetime.now(UTC) - start).total_seconds():5.0f} s: "
                f"{stats['calls_created']:,} calls, live {stats['active_now']}, RSS MiB "
                + " ".join(f"{k}={v:.0f}" for k, v in rss.items()),
                flush=True,
            )
            next_line += 60
        await asyncio.sleep(2)
    await set_rate(deploy, campaign.id, Rate(1, 1))
    stats = await deploy.sim_stats()
    sampler.sample()
    calls = stats["calls_created"]
    print(
        f"long run: {seconds / 60:g} min at {args.long_rate:g}/s target, {calls:,} calls "
        f"({calls / seconds:.1f}/s) of {args.long_leads:,} leads loaded; peak live "
        f"{stats['peak_active']}, overlaps {stats['overlapping_calls_to_same_number']}, max "
        f"calls per number {stats['max_calls_per_number']}; CPU ms per call "
        f"{(sampler.dialer_cpu() - cpu_before) / max(calls, 1) * 1000:.1f}"
    )
    print_memory(sampler, warmup=120.0)
    print_cpu(sampler)
    bad = stats["overlapping_calls_to_same_number"] or stats["max_calls_per_number"] > 1
    bad = bad or stats["peak_active"] > args.cap or stats["repeated_originations"]
    print("invariants: " + ("VIOLATED" if bad else "all hold"))
    return 1 if bad else 0


def print_memory(sampler: ProcessSampler, warmup: float = 0.0) -> None:
    """RSS of each process at the first and last sample, peak, and its slope after warmup."""
    samples = sampler.samples
    if not samples:
        return
    print("| process | RSS first MiB | RSS last MiB | peak MiB | slope MiB/min |")
    print("|---|---:|---:|---:|---:|")
    for name in samples[-1].rss:
        series = [(s.at, s.rss[name]) for s in samples if name in s.rss]
        late = [(t, v) for t, v in series if t >= samples[0].at + warmup] or series
        peak = max(v for _, v in series)
        print(
            f"| {name} | {series[0][1]:.0f} | {series[-1][1]:.0f} | {peak:.0f} | "
            f"{slope_mib_per_min(late):+.2f} |"
        )


def print_cpu(sampler: ProcessSampler) -> None:
    kinds = sampler.cpu_by_kind()
    print("CPU seconds by process kind: " + ", ".join(f"{k} {v:.0f}" for k, v in kinds.items()))


def print_profile(folder: Path) -> None:
    """What each profiled process spent its samples on: by library, and the hottest frames."""
    for path in sorted(folder.glob("*.txt")):
        stacks = Counter[str]()
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if count.isdigit():
                stacks[stack] += int(count)
        total = sum(stacks.values()) or 1
        libraries = Counter[str]()
        leaves = Counter[str]()
        for stack, n in stacks.items():
            frames = stack.split(";")
            leaves[_frame(frames[-1])] += n
            for library in {_library(f) for f in frames} - {""}:
                libraries[library] += n
        print(f"  profile {path.stem}: {total} samples")
        print(
            "    stacks through: "
            + ", ".join(f"{lib} {n / total:.0%}" for lib, n in libraries.most_common(12))
        )
        for frame, n in leaves.most_common(8):
            print(f"    {n / total:5.1%} {frame}")


LIBRARIES = (
    "sqlalchemy", "asyncpg", "redis", "kombu", "amqp", "celery", "httpx", "httpcore",
    "uvicorn", "starlette", "fastapi", "pydantic", "json", "asyncio", "dialer/services",
    "dialer/adapters", "dialer/api", "dialer/domain", "billiard", "ssl", "selectors",
)  # fmt: skip


def _library(frame: str) -> str:
    for library in LIBRARIES:
        if f"/{library}/" in frame or f"{library}/" in frame.split("(", 1)[-1]:
            return library
    return ""


def _frame(frame: str) -> str:
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    short = "/".join(path.split("/")[-2:])
    return f"{name} ({short})"


async def main() -> int:
    args = parse()
    topology = Topology(
        dispatchers=args.dispatchers,
        workers=args.workers,
        listeners=args.listeners,
        redis_port=args.redis_port,
        env=dict(ENDPOINTS_ENV) if args.endpoints or args.pre_dial else {},
    )
    label = "e2elong" if args.long_minutes else "e2e"
    print(
        f"e2e {'long run' if args.long_minutes else 'steps'}: {args.dispatchers} dispatchers, "
        f"{args.workers} workers, {args.listeners} listeners; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        flush=True,
    )
    async with deployment(topology, simulator_config(), label) as deploy:
        sampler = ProcessSampler(deploy.supervisor, every=10.0 if args.long_minutes else 2.0)
        sampler.start()
        try:
            if args.long_minutes:
                return await long_run(args, deploy, sampler)
            return await steps(args, deploy, sampler)
        finally:
            await sampler.stop()
            print(f"process logs: {deploy.logs}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

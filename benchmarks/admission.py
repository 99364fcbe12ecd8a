"""Admission on Redis: how fast, how exact. Run from the repository root:

    .venv/bin/python -m benchmarks.admission            # everything (about 5 minutes)
    .venv/bin/python -m benchmarks.admission --quick    # 2-second runs, 5-second stress

It prints three tables:

1. decisions/s and acquire latency (p50/p99) with 1 and 50 clients, with and without 10,000
   live leases (every admitted call is released, so each decision is two scripts: acquire
   and release), beside a trivial script (``return 1``) run by EVALSHA in the same harness:
   the ratio says what our scripts cost against Redis's floor;
2. a naive check-then-increment counter (GET; if below the cap, INCR; hold; DECR) run from 8
   processes, its overshoot beside ours on the same load;
3. the stress proof (8 processes, caps 10 / 100 / 10,000, shared numbers, a rate): peaks from
   the server's intervals and from a witness that does not ask Redis, lost leases, the final
   usage, and the achieved rate against the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from benchmarks.harness import stress
from dialer.adapters.admission.redis import RedisAdmission
from dialer.domain.model import Rate
from dialer.ports import Lease, Scope

REDIS_URL = os.environ.get("DIALER_BENCH_REDIS", "redis://127.0.0.1:6379/0")
PROCESSES = 8  # the stress proof and the naive counter
CLIENT_PROCESSES = 2  # 50 clients: 25 coroutines in each of 2 processes (2 cores)
PRELOAD = 10_000
HUGE = 10_000_000
TRIVIAL = "return 1"


# ------------------------------------------------------------------ throughput and latency


@dataclass(frozen=True)
class Load:
    clients: int
    preload: bool
    batch: int = 1
    trivial: bool = False  # run the trivial script instead of acquire + release

    @property
    def label(self) -> str:
        what = "EVALSHA return 1" if self.trivial else f"acquire+release, batch {self.batch}"
        if self.batch > 1:
            what = f"acquire {self.batch} + {self.batch} releases"
        live = f"{PRELOAD:,} live" if self.preload else "0 live"
        return f"{what:<30}{self.clients:>4} clients  {live:<11}"


@dataclass(frozen=True)
class Measured:
    load: Load
    seconds: float
    decisions: int
    latencies_ns: list[int]
    server_us: float  # Redis's own time per script run (INFO commandstats)

    @property
    def rate(self) -> float:
        return self.decisions / self.seconds

    def percentile(self, q: float) -> float:
        """Milliseconds."""
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def measure(load: Load, seconds: float) -> Measured:
    namespace = f"bench-{uuid.uuid4().hex}"
    asyncio.run(_prepare(namespace, load.preload))
    processes = 1 if load.clients == 1 else CLIENT_PROCESSES
    per_process = max(1, load.clients // processes)
    start_at = time.time() + 3.0
    context = multiprocessing.get_context("spawn")
    try:
        before = asyncio.run(_evalsha_stats())
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            futures = [
                pool.submit(_client_process, load, namespace, p, per_process, start_at, seconds)
                for p in range(processes)
            ]
            parts = [future.result(timeout=seconds + 60) for future in futures]
        after = asyncio.run(_evalsha_stats())
    finally:
        asyncio.run(stress.drop(REDIS_URL, namespace))
    decisions = sum(count for count, _ in parts)
    latencies = [ns for _, part in parts for ns in part]
    runs = max(1, after[0] - before[0])
    return Measured(load, seconds, decisions, latencies, (after[1] - before[1]) / runs)


async def _evalsha_stats() -> tuple[int, int]:
    """EVALSHA runs and the microseconds Redis spent in them, since the server started."""
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        stats = (await client.info("commandstats")).get("cmdstat_evalsha", {})
    finally:
        await client.aclose()
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


async def _prepare(namespace: str, preload: bool) -> None:
    admission = RedisAdmission.from_url(REDIS_URL, namespace=namespace)
    try:
        await admission.rebuild([])
        for start in range(0, PRELOAD if preload else 0, 1000):
            calls = [(f"pre-{i}", f"+1999{i:07d}") for i in range(start, start + 1000)]
            await admission.acquire_batch(_scope(), calls, ttl=3600)
    finally:
        await admission.aclose()


def _scope() -> Scope:
    return Scope(tenant_id=1, campaign_id=1, global_max=HUGE, campaign_max=HUGE, tenant_max=HUGE)


def _client_process(
    load: Load, namespace: str, process: int, clients: int, start_at: float, seconds: float
) -> tuple[int, list[int]]:
    return asyncio.run(_clients(load, namespace, process, clients, start_at, seconds))


async def _clients(
    load: Load, namespace: str, process: int, clients: int, start_at: float, seconds: float
) -> tuple[int, list[int]]:
    admission = RedisAdmission.from_url(REDIS_URL, namespace=namespace, max_connections=clients)
    trivial = Redis.from_url(REDIS_URL, max_connections=clients)
    sha = await trivial.script_load(TRIVIAL)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    deadline = time.monotonic() + seconds
    try:
        parts = await asyncio.gather(
            *(
                _trivial_client(trivial, sha, deadline)
                if load.trivial
                else _admission_client(admission, load.batch, f"{process}-{n}", deadline)
                for n in range(clients)
            )
        )
    finally:
        await admission.aclose()
        await trivial.aclose()
    return sum(count for count, _ in parts), [ns for _, part in parts for ns in part]


async def _admission_client(
    admission: RedisAdmission, batch: int, name: str, deadline: float
) -> tuple[int, list[int]]:
    latencies: list[int] = []
    decisions = serial = 0
    scope = _scope()
    while time.monotonic() < deadline:
        calls = []
        for _ in range(batch):
            serial += 1
            calls.append((f"{name}-{serial}", f"+1{name.replace('-', '0')}{serial:08d}"))
        began = time.perf_counter_ns()
        results = await admission.acquire_batch(scope, calls, ttl=600)
        latencies.append(time.perf_counter_ns() - began)
        decisions += len(results)
        leases: list[Lease] = [r.lease for r in results if r.lease is not None]
        await asyncio.gather(*(admission.release(lease) for lease in leases))
    return decisions, latencies


async def _trivial_client(client: Redis, sha: str, deadline: float) -> tuple[int, list[int]]:
    latencies: list[int] = []
    while time.monotonic() < deadline:
        began = time.perf_counter_ns()
        await client.evalsha(sha, 0)
        latencies.append(time.perf_counter_ns() - began)
    return len(latencies), latencies


def throughput_table(seconds: float) -> str:
    rows = []
    for clients in (1, 50):
        trivial = measure(Load(clients, preload=False, trivial=True), seconds)
        rows.append(_row(trivial, None))
        for preload in (False, True):
            ours = measure(Load(clients, preload), seconds)
            rows.append(_row(ours, trivial))
    rows.append(_row(measure(Load(1, preload=True, batch=100), seconds), None))
    head = f"{'load':<58}{'decisions/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'scripts/s ÷ trivial/s':>23}"
    return "\n".join([head, "-" * len(head), *rows])


def _row(m: Measured, trivial: Measured | None) -> str:
    ratio = ""
    if trivial is not None:
        scripts = 2 * m.rate  # an acquire and a release per decision
        ratio = f"{scripts / trivial.rate:.2f} ({scripts:,.0f} / {trivial.rate:,.0f})"
    return (
        f"{m.load.label:<58}{m.rate:>12,.0f}{m.percentile(0.5):>9.2f}"
        f"{m.percentile(0.99):>9.2f}{m.server_us:>17.1f}{ratio:>25}"
    )


# ------------------------------------------------------------------ the naive counter


def naive_overshoot(cap: int, seconds: float, coroutines: int) -> tuple[int, int]:
    """Check-then-increment from PROCESSES processes: (the highest count reached, calls)."""
    key = f"bench-naive-{uuid.uuid4().hex}"
    start_at = time.time() + 3.0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
        futures = [
            pool.submit(_naive_process, key, cap, coroutines, start_at, seconds)
            for _ in range(PROCESSES)
        ]
        parts = [future.result(timeout=seconds + 60) for future in futures]
    asyncio.run(_delete(key))
    return max(top for top, _ in parts), sum(calls for _, calls in parts)


def _naive_process(
    key: str, cap: int, coroutines: int, start_at: float, seconds: float
) -> tuple[int, int]:
    return asyncio.run(_naive(key, cap, coroutines, start_at, seconds))


async def _naive(
    key: str, cap: int, coroutines: int, start_at: float, seconds: float
) -> tuple[int, int]:
    client = Redis.from_url(REDIS_URL, max_connections=coroutines)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    deadline = time.monotonic() + seconds
    try:
        parts = await asyncio.gather(
            *(_naive_client(client, key, cap, deadline) for _ in range(coroutines))
        )
    finally:
        await client.aclose()
    return max(top for top, _ in parts), sum(calls for _, calls in parts)


async def _naive_client(client: Redis, key: str, cap: int, deadline: float) -> tuple[int, int]:
    top = calls = 0
    while time.monotonic() < deadline:
        if int(await client.get(key) or 0) < cap:
            held = int(await client.incr(key))  # the count right after our own increment
            top, calls = max(top, held), calls + 1
            await asyncio.sleep(0.003)
            await client.decr(key)
        else:
            await asyncio.sleep(stress.CAP_BACKOFF)
    return top, calls


async def _delete(key: str) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.delete(key)
    finally:
        await client.aclose()


def naive_table(seconds: float, folder: Path) -> str:
    cap, coroutines = 10, 6
    top, calls = naive_overshoot(cap, seconds, coroutines)
    ours = stress.run(
        REDIS_URL,
        [
            stress.Phase(
                "ours", cap=cap, seconds=seconds, coroutines=coroutines, hold=(0.003, 0.003)
            )
        ],
        PROCESSES,
        folder,
    )[0]
    head = f"{'counter (cap 10, 8 processes x 6 coroutines, hold 3 ms)':<60}{'calls':>9}{'peak':>6}"
    return "\n".join(
        [
            head + f"{'overshoot':>11}",
            "-" * (len(head) + 11),
            f"{'naive GET, then INCR if below the cap':<60}{calls:>9}{top:>6}{top - cap:>+11}",
            f"{'ours (acquire script), peak from server intervals':<60}{ours.admitted:>9}"
            f"{ours.peak_server:>6}{ours.peak_server - cap:>+11}",
            f"{'ours, peak from the witness (no Redis)':<60}{ours.admitted:>9}"
            f"{ours.peak_witness:>6}{ours.peak_witness - cap:>+11}",
        ]
    )


# ------------------------------------------------------------------ the stress proof


def stress_phases(seconds: float) -> list[stress.Phase]:
    return [
        stress.Phase("cap-10", cap=10, seconds=seconds, coroutines=6),
        stress.Phase(
            "cap-100+nums",
            cap=100,
            seconds=seconds,
            coroutines=20,
            numbers=300,
            hold=(0.005, 0.02),
        ),
        stress.Phase(
            "cap-10000", cap=10_000, seconds=seconds, coroutines=25, batch=60, hold=(0.05, 0.15)
        ),
        stress.Phase(
            "rate-300/s",
            cap=1000,
            seconds=seconds,
            coroutines=4,
            hold=(0, 0.002),
            rate=Rate(300, 20),
        ),
    ]


def stress_table(seconds: float, folder: Path) -> str:
    reports = stress.run(REDIS_URL, stress_phases(seconds), PROCESSES, folder)
    verdicts = []
    for r in reports:
        exact = r.peak_server <= r.phase.cap and r.peak_witness <= r.phase.cap
        clean = r.lost == 0 and r.final_usage == 0 and r.number_overlaps_server == 0
        rate_ok = r.rate_error is None or abs(r.rate_error) <= 0.02
        verdicts.append(f"{r.phase.name}: {'PASS' if exact and clean and rate_ok else 'FAIL'}")
    return stress.table(reports) + "\n" + "  ".join(verdicts)


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    parser.add_argument("--seconds", type=float, default=5.0, help="each throughput run")
    parser.add_argument("--stress-seconds", type=float, default=30.0, help="each stress phase")
    parser.add_argument("--skip-stress", action="store_true")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else args.seconds
    stress_seconds = 5.0 if args.quick else args.stress_seconds
    print(f"# admission benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"# {platform.platform()}, {multiprocessing.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, Redis at {REDIS_URL}"
    )
    print(
        "# load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}\n".format(
            *os.getloadavg()
        )
    )
    print(throughput_table(seconds), "\n", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        print(naive_table(max(seconds, 5.0), Path(folder)), "\n", flush=True)
        if not args.skip_stress:
            print(stress_table(stress_seconds, Path(folder)), flush=True)
    print(
        "\n# load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    )


if __name__ == "__main__":
    main()

"""Stress harness: many processes (spawned) x many coroutines contend for caps, number locks and
a rate on the real Redis, and every admitted interval is recorded twice:

* on the server's clock: acquired at (the lease's expiry - its ttl) and released at (the time
  the release script ran), both from Redis TIME;
* by a witness that does not ask Redis: each process's own monotonic clock (system-wide on
  Linux), from after the acquire answered to before the release was sent, so the witnessed
  interval lies inside the held one and the witnessed peak can only under-count.

Each process writes its records to its own file in a shared folder; the parent sweeps them.
Used by tests/integration/distributed/test_stress.py (short) and benchmarks/admission.py
(30 s phases).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from dialer.adapters.admission.redis import RedisAdmission
from dialer.domain.model import Rate
from dialer.ports import Lease, Limit, Scope

US = 1_000_000
TTL = 120.0  # longer than any phase: every lease must come back by release, none by expiry
CAP_BACKOFF = 0.002  # seconds a coroutine waits after a cap or number refusal


@dataclass(frozen=True)
class Phase:
    name: str
    cap: int
    seconds: float
    coroutines: int  # per process
    batch: int = 1  # calls per acquire
    hold: tuple[float, float] = (0.001, 0.005)  # seconds a lease is held, uniform
    numbers: int | None = None  # a pool of shared numbers; None: every call its own number
    rate: Rate | None = None  # the campaign's rate
    namespace: str = field(default_factory=lambda: f"stress-{uuid.uuid4().hex}")

    @property
    def scope(self) -> Scope:
        return Scope(
            tenant_id=1,
            campaign_id=1,
            global_max=self.cap,
            campaign_max=self.cap,
            campaign_rate=self.rate,
        )


@dataclass(frozen=True)
class _Job:
    url: str
    process: int
    phases: tuple[Phase, ...]
    folder: str
    barrier: Any  # a multiprocessing Barrier: every process starts each phase together


@dataclass(frozen=True)
class Record:
    phone: str
    acquired: int  # server clock, microseconds
    released: int | None  # server clock, microseconds; None: the lease was gone
    seen_from: int  # witness clock, nanoseconds
    seen_to: int


@dataclass
class PhaseReport:
    phase: Phase
    processes: int
    admitted: int = 0
    decisions: int = 0  # calls decided (admitted or refused)
    peak_server: int = 0
    peak_witness: int = 0
    number_overlaps_server: int = 0
    number_overlaps_witness: int = 0
    lost: int = 0  # leases that were not there any more when released
    final_usage: int = -1
    achieved_rate: float | None = None  # admissions per second once the burst is spent
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def rate_error(self) -> float | None:
        if self.achieved_rate is None or self.phase.rate is None:
            return None
        return self.achieved_rate / self.phase.rate.per_second - 1


# ------------------------------------------------------------------ the parent


def run(url: str, phases: Sequence[Phase], processes: int, folder: Path) -> list[PhaseReport]:
    """Run the phases one after the other, each with every process; return their reports."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes, timeout=120)
    workers = [
        context.Process(target=work, args=(_Job(url, number, tuple(phases), str(folder), barrier),))
        for number in range(processes)
    ]
    for worker in workers:
        worker.start()
    limit = 120 + sum(phase.seconds + 30 for phase in phases)
    deadline = time.monotonic() + limit
    for worker in workers:
        worker.join(timeout=max(1.0, deadline - time.monotonic()))
    for worker in workers:
        if worker.is_alive():
            worker.kill()
            worker.join()
    failed = [w.exitcode for w in workers if w.exitcode != 0]
    if failed:
        raise RuntimeError(f"stress workers failed with exit codes {failed}")
    return [_report(url, phase, processes, folder) for phase in phases]


def _report(url: str, phase: Phase, processes: int, folder: Path) -> PhaseReport:
    report = PhaseReport(phase, processes)
    records: list[Record] = []
    for path in sorted(folder.glob(f"{phase.namespace}-*.jsonl")):
        lines = path.read_text().splitlines()
        tally = json.loads(lines[0])
        report.decisions += tally["decisions"]
        for name, count in tally["refused"].items():
            report.refused[name] = report.refused.get(name, 0) + count
        records += [Record(*json.loads(line)) for line in lines[1:]]
    report.admitted = len(records)
    report.lost = sum(r.released is None for r in records)
    held = [(r.acquired, r.released) for r in records if r.released is not None]
    report.peak_server = peak(held)
    report.peak_witness = peak((r.seen_from, r.seen_to) for r in records)
    report.number_overlaps_server = number_overlaps(records, server=True)
    report.number_overlaps_witness = number_overlaps(records, server=False)
    report.achieved_rate = achieved_rate(records, phase)
    report.final_usage = asyncio.run(_final_usage(url, phase.namespace))
    return report


def peak(intervals: Iterable[tuple[int, int]]) -> int:
    """The most intervals open at once; an interval that ends where another starts does not
    overlap it."""
    events = sorted(e for start, end in intervals for e in ((start, 1), (end, -1)))
    held = best = 0
    for _, step in events:
        held += step
        best = max(best, held)
    return best


def number_overlaps(records: Sequence[Record], *, server: bool) -> int:
    """Intervals of one number that overlap another of the same number."""
    by_number: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in records:
        if server and r.released is not None:
            by_number[r.phone].append((r.acquired, r.released))
        elif not server:
            by_number[r.phone].append((r.seen_from, r.seen_to))
    return sum(max(0, peak(spans) - 1) for spans in by_number.values())


def achieved_rate(records: Sequence[Record], phase: Phase) -> float | None:
    """Admissions per second over the run, leaving out its first second (the burst, and the
    processes' start) and its last half second."""
    if phase.rate is None or not records:
        return None
    starts = sorted(r.acquired for r in records)
    begin, end = starts[0] + US, starts[-1] - US // 2
    if end <= begin:
        return None
    inside = sum(begin <= t < end for t in starts)
    return inside / ((end - begin) / US)


async def _final_usage(url: str, namespace: str) -> int:
    admission = RedisAdmission.from_url(url, namespace=namespace)
    try:
        return (await admission.usage()).global_active
    finally:
        await admission.aclose()
        await drop(url, namespace)


async def drop(url: str, namespace: str) -> None:
    """Delete a namespace's keys (test and benchmark code only)."""
    client = Redis.from_url(url)
    try:
        async for key in client.scan_iter(match=f"{{{namespace}}}:*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


# ------------------------------------------------------------------ the workers


def work(job: _Job) -> None:
    """A spawned process: run every phase, in step with the others."""
    asyncio.run(_work(job))


async def _work(job: _Job) -> None:
    for phase in job.phases:
        admission = RedisAdmission.from_url(
            job.url, namespace=phase.namespace, max_connections=phase.coroutines + 2
        )
        try:
            if job.process == 0:
                await admission.rebuild([])  # a new namespace: its state starts known-good
            job.barrier.wait()
            tally, records = await _run_phase(admission, job.process, phase)
        finally:
            await admission.aclose()
        path = Path(job.folder) / f"{phase.namespace}-{job.process}.jsonl"
        lines = [json.dumps(tally)] + [json.dumps(record) for record in records]
        path.write_text("\n".join(lines) + "\n")


@dataclass
class _Tally:
    decisions: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def count(self, refusal: Limit | None) -> None:
        name = refusal.value if refusal is not None else "not_ready"
        self.refused[name] = self.refused.get(name, 0) + 1


async def _run_phase(
    admission: RedisAdmission, process: int, phase: Phase
) -> tuple[dict[str, Any], list[list[Any]]]:
    tally = _Tally()
    records: list[list[Any]] = []
    deadline = time.monotonic() + phase.seconds
    clients = [
        _client(admission, phase, f"{process:02d}{number:03d}", deadline, tally, records)
        for number in range(phase.coroutines)
    ]
    await asyncio.gather(*clients)
    return {"decisions": tally.decisions, "refused": tally.refused}, records


async def _client(
    admission: RedisAdmission,
    phase: Phase,
    name: str,
    deadline: float,
    tally: _Tally,
    records: list[list[Any]],
) -> None:
    rng = random.Random(name)
    serial = 0
    while time.monotonic() < deadline:
        requests = []
        for _ in range(phase.batch):
            serial += 1
            requests.append((f"{name}-{serial}", _phone(phase, rng, name, serial)))
        results = await admission.acquire_batch(phase.scope, requests, TTL)
        tally.decisions += len(results)
        leases = [r.lease for r in results if r.lease is not None]
        for refusal in [r for r in results if not r.admitted]:
            tally.count(refusal.refused_by)
        if not leases:
            await asyncio.sleep(_backoff(results, rng))
            continue
        seen_from = time.monotonic_ns()
        await asyncio.sleep(rng.uniform(*phase.hold))
        seen_to = time.monotonic_ns()
        released = await asyncio.gather(*(admission.release_at(lease) for lease in leases))
        for lease, at in zip(leases, released, strict=True):
            records.append(_record(lease, at, seen_from, seen_to))


def _phone(phase: Phase, rng: random.Random, name: str, serial: int) -> str:
    if phase.numbers is None:
        return f"+1{name}{serial:07d}"
    return f"+1646{rng.randrange(phase.numbers):07d}"


def _backoff(results: Sequence[Any], rng: random.Random) -> float:
    waits = [r.retry_after for r in results if r.retry_after is not None]
    base = min(waits) if waits else CAP_BACKOFF
    return base + rng.uniform(0, CAP_BACKOFF)


def _record(lease: Lease, released: float | None, seen_from: int, seen_to: int) -> list[Any]:
    acquired = round(lease.expires_at * US) - round(TTL * US)
    released_us = None if released is None else round(released * US)
    return [lease.phone, acquired, released_us, seen_from, seen_to]


# ------------------------------------------------------------------ printing


def table(reports: Sequence[PhaseReport]) -> str:
    head = (
        f"{'phase':<14}{'cap':>7}{'procs':>6}{'coros':>6}{'secs':>6}{'decisions/s':>12}"
        f"{'admitted':>10}{'peak(redis)':>12}{'peak(witness)':>14}{'num overlaps':>13}"
        f"{'lost':>5}{'usage':>6}  {'rate (achieved/limit)':<24}"
    )
    rows = [head, "-" * len(head)]
    for r in reports:
        p = r.phase
        rate = "-"
        if r.achieved_rate is not None and p.rate is not None and r.rate_error is not None:
            rate = f"{r.achieved_rate:.1f}/{p.rate.per_second:g} ({r.rate_error:+.2%})"
        overlaps = f"{r.number_overlaps_server}/{r.number_overlaps_witness}"
        rows.append(
            f"{p.name:<14}{p.cap:>7}{r.processes:>6}{p.coroutines:>6}{p.seconds:>6g}"
            f"{r.decisions / p.seconds:>12.0f}{r.admitted:>10}{r.peak_server:>12}"
            f"{r.peak_witness:>14}{overlaps:>13}{r.lost:>5}{r.final_usage:>6}  {rate:<24}"
        )
    return "\n".join(rows)

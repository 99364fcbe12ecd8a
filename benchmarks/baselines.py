"""Dialer against the naive baselines, side by side on the same machine. Run from the
repository root (RabbitMQ at 127.0.0.1:5672; a private Redis is started on --redis-port):

    .venv/bin/python -m benchmarks.baselines            # about 3 minutes
    .venv/bin/python -m benchmarks.baselines --quick    # about 1 minute

Three comparisons, each bounded in time:

1. Concurrency cap: a check-then-increment counter (GET; if below the cap, INCR; hold; DECR)
   from 8 processes, against Dialer's admission script on the same load (cap 10). The naive
   peak is the highest value INCR returned; Dialer's comes from the admitted intervals on the
   server's clock and from a witness that never asks Redis (benchmarks/admission.py).
2. Global rate: Celery's ``rate_limit="10/s"`` on a task run by 4 worker processes (one
   ``celery worker --concurrency 1 --prefetch-multiplier 1`` each, as Dialer's workers run,
   on the real RabbitMQ broker), against the same 4 workers running a task that asks
   Dialer's admission (a GCRA limiter of 10/s in Redis, on the server's clock) before it
   starts. The backlog is queued before the workers start; each task writes the time it
   started, and starts per second are counted across all workers from those files, leaving
   out the first 2 seconds. (``--prefetch 4``, Celery's default, shows Celery's own limit
   stalling: a rate-limited task waiting for its turn holds a prefetch slot.)
3. One number, one call: 8 processes ringing a pool of 40 shared numbers without a per-number
   lock, against the same load taking Dialer's number lock; overlapping calls to one number
   are counted from the recorded intervals.

It prints a comparison table and exits non-zero if Dialer overshot a cap or the rate (by more
than 2 %), or put a number in two calls at once. It never touches the shared Redis on 6379.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_ready
from kombu import Queue
from redis.asyncio import Redis

from benchmarks.harness import stress
from dialer.adapters.admission.redis import RedisAdmission
from dialer.domain.model import Rate
from dialer.ports import Scope

BROKER = os.environ.get("DIALER_BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
RATE = 10.0  # starts per second, the intended global rate
WORKERS = 4
RATE_TOLERANCE = 0.02
HUGE = 10_000_000

# ------------------------------------------------------------------ the Celery side
# The workers import this module (celery -A benchmarks.baselines:celery_app); what they need
# comes from the environment the parent sets.

celery_app = Celery("baselines", broker=BROKER)
celery_app.conf.update(
    task_default_queue=os.environ.get("BASELINES_QUEUE", "bench-baselines"),
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


def _starts_file() -> Path:
    return Path(os.environ["BASELINES_FOLDER"]) / f"starts-{os.getpid()}.txt"


def _record_start() -> None:
    with _starts_file().open("a") as file:
        file.write(f"{time.time():.6f}\n")


@worker_ready.connect
def _ready(**_: Any) -> None:
    folder = os.environ.get("BASELINES_FOLDER")
    if folder:
        (Path(folder) / f"ready-{os.getpid()}").touch()


@celery_app.task(name="bench.naive_start", rate_limit=f"{RATE:g}/s")
def naive_start(n: int) -> None:
    """A call start limited by Celery: the limit is kept by each worker, for itself."""
    _record_start()


_loop: asyncio.AbstractEventLoop | None = None
_admission: RedisAdmission | None = None


def _rate_scope() -> Scope:
    return Scope(
        tenant_id=1,
        campaign_id=1,
        global_max=HUGE,
        campaign_max=HUGE,
        campaign_rate=Rate(RATE, 1),
    )


@celery_app.task(name="bench.dialer_start")
def dialer_start(n: int) -> None:
    """A call start admitted by Dialer: one limiter in Redis for every worker."""
    global _loop, _admission
    if _loop is None:
        _loop = asyncio.new_event_loop()
        url, namespace = os.environ["BASELINES_REDIS"], os.environ["BASELINES_NAMESPACE"]
        _admission = RedisAdmission.from_url(url, namespace=namespace)
    assert _admission is not None
    _loop.run_until_complete(_admit_then_start(_admission, n))


async def _admit_then_start(admission: RedisAdmission, n: int) -> None:
    while True:
        result = (await admission.acquire_batch(_rate_scope(), [(f"c{n}", _phone(n))], 60))[0]
        if result.lease is not None:
            _record_start()
            await admission.release(result.lease)
            return
        await asyncio.sleep(result.retry_after or 0.01)


def _phone(n: int) -> str:
    return f"+1212{n:07d}"


# ------------------------------------------------------------------ a private Redis


@contextlib.contextmanager
def private_redis(port: int) -> Iterator[str]:
    """A redis-server of our own, no persistence, stopped on the way out."""
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed")
    process = subprocess.Popen(
        [server, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        asyncio.run(_wait_for_redis(url, process))
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _wait_for_redis(url: str, process: subprocess.Popen[bytes]) -> None:
    client = Redis.from_url(url)
    try:
        for _ in range(100):
            if process.poll() is not None:
                raise SystemExit(f"redis-server exited ({process.returncode}): port in use?")
            with contextlib.suppress(Exception):
                await client.ping()
                return
            await asyncio.sleep(0.05)
        raise SystemExit("redis-server did not answer")
    finally:
        await client.aclose()


# ------------------------------------------------------------------ 1. concurrency cap


@dataclass(frozen=True)
class Row:
    what: str
    limit: str
    measured: str
    ok: bool | None  # None: a naive baseline (expected to fail, never fails the run)


def cap_rows(redis_url: str, seconds: float, folder: Path) -> list[Row]:
    os.environ["DIALER_BENCH_REDIS"] = redis_url  # read by benchmarks.admission (and children)
    from benchmarks import admission

    cap, coroutines = 10, 6
    top, calls = admission.naive_overshoot(cap, seconds, coroutines)
    phase = stress.Phase(
        "cap", cap=cap, seconds=seconds, coroutines=coroutines, hold=(0.003, 0.003)
    )
    ours = stress.run(redis_url, [phase], admission.PROCESSES, folder)[0]
    load = f"8 procs x {coroutines}, hold 3 ms, {seconds:g} s"
    return [
        Row(f"cap: naive GET-then-INCR ({load})", f"{cap}", f"peak {top} ({calls:,} calls)", None),
        Row(
            f"cap: Dialer admission script ({load})",
            f"{cap}",
            f"peak {ours.peak_server} server / {ours.peak_witness} witness"
            f" ({ours.admitted:,} calls)",
            ours.peak_server <= cap and ours.peak_witness <= cap and ours.lost == 0,
        ),
    ]


# ------------------------------------------------------------------ 2. global rate


@dataclass(frozen=True)
class RateRun:
    task: str
    seconds: float
    starts: list[float]
    began: float
    warmup: float

    def counted(self) -> list[float]:
        """Starts after the warm-up (the first burst), up to the end of the run."""
        return [t for t in self.starts if self.began + self.warmup <= t < self.began + self.seconds]

    @property
    def rate(self) -> float:
        return len(self.counted()) / (self.seconds - self.warmup)

    @property
    def busiest_second(self) -> int:
        per_second = Counter(int(t - self.began) for t in self.counted())
        return max(per_second.values(), default=0)


def rate_run(task: str, redis_url: str, seconds: float, warmup: float) -> tuple[RateRun, list[int]]:
    """Start 4 Celery workers on a queue of their own, give them more work than the rate
    allows for the whole run, and collect every start they recorded."""
    queue = f"bench-baselines-{uuid.uuid4().hex[:12]}"
    namespace = f"baselines-{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory(prefix="dialer-baselines-") as name:
        folder = Path(name)
        env = {
            **os.environ,
            "BASELINES_QUEUE": queue,
            "BASELINES_FOLDER": str(folder),
            "BASELINES_REDIS": redis_url,
            "BASELINES_NAMESPACE": namespace,
        }
        if task == "bench.dialer_start":
            asyncio.run(_fresh_namespace(redis_url, namespace))
        # The whole backlog is queued before the workers start, so publishing costs the run
        # nothing; more than even the naive rate can use.
        _publish(task, queue, int(RATE * WORKERS * seconds * 1.5))
        workers = [_start_worker(queue, n, env, folder) for n in range(WORKERS)]
        try:
            _wait_ready(folder, workers, timeout=90)
            began = time.time()
            time.sleep(seconds + 1)
        finally:
            _stop(workers)
            _delete_queue(queue)
            asyncio.run(stress.drop(redis_url, namespace))
        files = sorted(folder.glob("starts-*.txt"))
        per_worker = [len(f.read_text().split()) for f in files]
        starts = sorted(float(t) for f in files for t in f.read_text().split())
    return RateRun(task, seconds, starts, began, warmup), per_worker


async def _fresh_namespace(url: str, namespace: str) -> None:
    admission = RedisAdmission.from_url(url, namespace=namespace)
    try:
        await admission.rebuild([])  # a new namespace: its state starts known-good
    finally:
        await admission.aclose()


def _start_worker(queue: str, n: int, env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "benchmarks.baselines:celery_app",
        "worker",
        "--pool",
        os.environ.get("BASELINES_POOL", "prefork"),
        "--concurrency",
        "1",
        "--prefetch-multiplier",
        os.environ.get("BASELINES_PREFETCH", "1"),
        "-Q",
        queue,
        "-n",
        f"baseline{n}-{queue}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "WARNING",
    ]
    log = (folder / f"worker-{n}.log").open("wb")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_ready(folder: Path, workers: Sequence[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("ready-*"))) < len(workers):
        if any(w.poll() is not None for w in workers):
            logs = "\n".join(p.read_text() for p in folder.glob("worker-*.log"))
            raise RuntimeError(f"a Celery worker exited during start-up:\n{logs[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError("the Celery workers did not start in time")
        time.sleep(0.2)


def _publish(task: str, queue: str, count: int) -> None:
    with celery_app.connection_for_write() as connection:
        Queue(queue, channel=connection.default_channel).declare()  # before any worker does
    with celery_app.producer_or_acquire() as producer:
        for n in range(count):
            celery_app.send_task(task, args=(n,), queue=queue, producer=producer)


def _stop(workers: Sequence[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGQUIT)  # cold shutdown: stop now, leave the backlog
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _delete_queue(queue: str) -> None:
    with celery_app.connection_for_write() as connection, contextlib.suppress(Exception):
        connection.default_channel.queue_delete(queue)


def rate_rows(redis_url: str, seconds: float) -> list[Row]:
    warmup = 2.0
    prefetch = os.environ.get("BASELINES_PREFETCH", "1")
    rows = []
    for task, label in (
        ("bench.naive_start", f'rate: Celery rate_limit="10/s", 4 workers, prefetch {prefetch}'),
        ("bench.dialer_start", "rate: Dialer GCRA 10/s (Redis), same 4 workers"),
    ):
        run, per_worker = rate_run(task, redis_url, seconds, warmup)
        error = run.rate / RATE - 1
        # Dialer's promise is "never above the limit"; a shortfall is the workers' pace.
        ok = None if task == "bench.naive_start" else error <= RATE_TOLERANCE
        rows.append(
            Row(
                f"{label}, {seconds:g} s",
                f"{RATE:g}/s",
                f"{run.rate:.2f}/s ({error:+.1%}), busiest second {run.busiest_second},"
                f" per worker {per_worker}",
                ok,
            )
        )
    return rows


# ------------------------------------------------------------------ 3. one number, one call


NUMBERS = 40


def duplicate_rows(redis_url: str, seconds: float, folder: Path) -> list[Row]:
    naive = naive_duplicates(seconds)
    phase = stress.Phase(
        "numbers", cap=HUGE, seconds=seconds, coroutines=6, numbers=NUMBERS, hold=(0.005, 0.02)
    )
    ours = stress.run(redis_url, [phase], 8, folder)[0]
    load = f"8 procs x 6, {NUMBERS} numbers, hold 5-20 ms, {seconds:g} s"
    return [
        Row(
            f"numbers: no lock ({load})",
            "0 overlaps",
            f"{naive[0]:,} overlaps in {naive[1]:,}",
            None,
        ),
        Row(
            f"numbers: Dialer number lock ({load})",
            "0 overlaps",
            f"{ours.number_overlaps_server} server / {ours.number_overlaps_witness} witness"
            f" in {ours.admitted:,}",
            ours.number_overlaps_server == 0 and ours.number_overlaps_witness == 0,
        ),
    ]


def naive_duplicates(seconds: float) -> tuple[int, int]:
    """(overlapping calls to one number, calls): every process rings numbers from the pool
    with no lock, recording each call's interval on the machine's monotonic clock."""
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 2.0
    with ProcessPoolExecutor(8, mp_context=context) as pool:
        parts = list(pool.map(_ring_without_lock, [(p, start_at, seconds) for p in range(8)]))
    records = [
        stress.Record(phone, 0, 0, begin, end) for part in parts for phone, begin, end in part
    ]
    return stress.number_overlaps(records, server=False), len(records)


def _ring_without_lock(job: tuple[int, float, float]) -> list[tuple[str, int, int]]:
    return asyncio.run(_ring_clients(*job))


async def _ring_clients(
    process: int, start_at: float, seconds: float
) -> list[tuple[str, int, int]]:
    await asyncio.sleep(max(0.0, start_at - time.time()))
    deadline = time.monotonic() + seconds
    calls: list[tuple[str, int, int]] = []

    async def client(rng: random.Random) -> None:
        while time.monotonic() < deadline:
            phone = f"+1646{rng.randrange(NUMBERS):07d}"
            begin = time.monotonic_ns()
            await asyncio.sleep(rng.uniform(0.005, 0.02))
            calls.append((phone, begin, time.monotonic_ns()))

    await asyncio.gather(*(client(random.Random(process * 100 + n)) for n in range(6)))
    return calls


# ------------------------------------------------------------------ main


def table(rows: Sequence[Row]) -> str:
    width = max(len(r.what) for r in rows) + 2
    head = f"{'what':<{width}}{'limit':<12}{'measured':<70}verdict"
    lines = [head, "-" * len(head)]
    for r in rows:
        verdict = "naive baseline" if r.ok is None else ("PASS" if r.ok else "FAIL")
        lines.append(f"{r.what:<{width}}{r.limit:<12}{r.measured:<70}{verdict}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (10 s rates, 3 s caps)")
    parser.add_argument("--rate-seconds", type=float, default=30.0)
    parser.add_argument("--cap-seconds", type=float, default=5.0)
    parser.add_argument("--redis-port", type=int, default=6392)
    parser.add_argument(
        "--prefetch",
        type=int,
        default=1,
        help="the workers' prefetch multiplier (1, as Dialer's workers run; Celery's default is 4)",
    )
    args = parser.parse_args()
    os.environ["BASELINES_PREFETCH"] = str(args.prefetch)  # read when the workers start
    rate_seconds = 10.0 if args.quick else args.rate_seconds
    cap_seconds = 3.0 if args.quick else args.cap_seconds
    print(f"# Dialer against the naive baselines, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("# load average at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    rows: list[Row] = []
    with private_redis(args.redis_port) as url, tempfile.TemporaryDirectory() as folder:
        rows += cap_rows(url, cap_seconds, Path(folder))
        print(table(rows), flush=True)
        rows += rate_rows(url, rate_seconds)
        rows += duplicate_rows(url, cap_seconds, Path(folder))
    print("# load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(table(rows))
    failed = [r.what for r in rows if r.ok is False]
    for what in failed:
        print(f"FAILED: {what}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

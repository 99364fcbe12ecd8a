"""A whole distributed deployment on this machine, for the end-to-end benchmarks (e2e, load,
hold): a database of its own on the local PostgreSQL, a private Redis on a port of its own
(never the machine's shared one), RabbitMQ queues of its own, the simulator as its own
process, HTTP listeners (``dialer serve --api-only``), beat, workers and dispatchers — each a
real process in its own process group, started and stopped by ``dialer.cli.supervise``.

What the harness reads, it reads from outside Dialer's own counters wherever it can: call
starts, peaks and overlaps from the simulator's observer (``/_sim/stats``), webhook latency
from each listener's ``/metrics``, CPU and memory from the kernel (psutil).

    python -m benchmarks.deployment simulator '{"speed": 1, ...}' PORT

runs the simulator with any setting of ``SimulatorConfig`` (the command line does not take
``epoch``, which makes the observer record each call's start instant); the benchmarks start
it that way.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from kombu import Connection

from benchmarks.claim_plan import admin
from benchmarks.harness.chaos import settings_from_env, start_private_redis
from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.bootstrap import Runtime, open_runtime
from dialer.cli.supervise import Spec, Supervisor, free_port, wait_for_port
from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.phone import zone_key
from dialer.services.campaigns import create_campaign, start_campaign
from dialer.settings import Settings
from dialer.simulator.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

PG_SERVER = os.environ.get("DIALER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
AMQP_URL = os.environ.get("DIALER_BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
NY = zone_key(("America/New_York",))
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)  # leads loaded but not yet scheduled
DIALER_PROCESSES = ("dispatcher", "worker", "listener", "beat")  # CPU per call counts these


# ------------------------------------------------------------------ shape of a deployment


@dataclass(frozen=True)
class Topology:
    dispatchers: int = 2
    workers: int = 2
    worker_concurrency: int = 1  # pool processes per `dialer worker`
    listeners: int = 2  # dispatcher n's callbacks go to listener n mod L (a balancer's job)
    redis_port: int = 6391
    env: dict[str, str] = field(default_factory=dict)  # more DIALER_* settings


@dataclass
class Deployment:
    supervisor: Supervisor
    settings: Settings
    env: dict[str, str]
    database_url: str
    sim_url: str
    listener_urls: list[str]
    runtime: Runtime
    logs: Path
    queue: str

    def pids(self, prefix: str) -> list[int]:
        return [self.supervisor.pid(n) for n in self.supervisor.names if n.startswith(prefix)]

    async def sim_stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.sim_url, timeout=60) as client:
            return dict((await client.get("/_sim/stats")).json())

    async def sim_reset(self) -> None:
        async with httpx.AsyncClient(base_url=self.sim_url, timeout=60) as client:
            (await client.post("/_sim/reset")).raise_for_status()

    async def webhook_histogram(self) -> Histogram:
        """Every listener's dialer_webhook_request_seconds, summed."""
        total = Histogram()
        async with httpx.AsyncClient(timeout=30) as client:
            for url in self.listener_urls:
                total.add(Histogram.parse((await client.get(f"{url}/metrics")).text))
        return total

    def check_alive(self) -> None:
        dead = [n for n in self.supervisor.names if not self.supervisor.alive(n)]
        if dead:
            raise RuntimeError(f"processes exited: {dead} (logs in {self.logs})")


def simulator_config(**overrides: Any) -> dict[str, Any]:
    """Short calls by default: 0.05 s setup steps, ring 0.2–1 s, talk 1.5 s on average
    (capped at the campaign's time limit), no faults; the CPS limit well above any rate."""
    values: dict[str, Any] = {
        "speed": 1.0,
        "cps": 100_000.0,
        "setup_time": 0.05,
        "ring_min": 0.2,
        "ring_max": 1.0,
        "busy_ring": 0.3,
        "talk_mean": 1.5,
        "drop_after_max": 1.0,
        "seed": 1,
        "callback_connections": 128,
    }
    return values | overrides


@asynccontextmanager
async def deployment(
    topology: Topology, sim: dict[str, Any], label: str
) -> AsyncIterator[Deployment]:
    """Everything up, in order; everything down and dropped afterwards, whatever happened."""
    logs = Path(tempfile.mkdtemp(prefix=f"dialer-{label}-"))
    supervisor = Supervisor(logs)
    queue = f"{label}-{uuid.uuid4().hex[:8]}"
    async with own_database(label) as url:
        try:
            start_private_redis(supervisor, topology.redis_port)
            sim_url = _start_simulator(supervisor, sim)
            env = _environment(topology, url, sim_url, queue)
            settings = settings_from_env(env)
            listeners = _start_processes(supervisor, env, topology)
            async with open_runtime(settings) as runtime:
                yield Deployment(
                    supervisor, settings, env, url, sim_url, listeners, runtime, logs, queue
                )
        finally:
            supervisor.stop_all(timeout=15)
            _delete_queues(queue)


@asynccontextmanager
async def own_database(label: str) -> AsyncIterator[str]:
    """A migrated database of its own, dropped afterwards."""
    name = f"dialer_bench_{label}_{datetime.now(UTC):%H%M%S}_{uuid.uuid4().hex[:6]}"
    await admin(f'CREATE DATABASE "{name}"')
    url = f"{PG_SERVER}/{name}"
    try:
        engine = make_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        yield url
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _environment(topology: Topology, url: str, sim_url: str, queue: str) -> dict[str, str]:
    return {
        "DIALER_DATABASE_URL": url,
        "DIALER_REDIS_URL": f"redis://127.0.0.1:{topology.redis_port}/0",
        "DIALER_BROKER_URL": AMQP_URL,
        "DIALER_DEFAULT_QUEUE": queue,
        "DIALER_GLOBAL_MAX_CONCURRENCY": "10000",
        "DIALER_CAMPAIGN_MAX_CONCURRENCY": "10000",
        "DIALER_PROVIDER_MAX_CPS": "100000",  # the provider's pacing ceiling: out of the way
        "DIALER_WORKER_MAX_TASKS_PER_CHILD": "1000000",  # no recycling: RSS tells the truth
        "DIALER_WORKER_CONCURRENCY": str(topology.worker_concurrency),
        "DIALER_TWILIO_API_BASE": sim_url,
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        **topology.env,
    }


def _start_simulator(supervisor: Supervisor, config: dict[str, Any]) -> str:
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.deployment", "simulator", json.dumps(config)]
    supervisor.start(Spec("simulator", [*argv, str(port)], stop_rank=9))
    if not wait_for_port("127.0.0.1", port, 30):
        raise RuntimeError(f"the simulator did not start (see {supervisor.log_dir})")
    return f"http://127.0.0.1:{port}"


def _dialer(*args: str) -> list[str]:
    return [sys.executable, "-m", "dialer.cli", *args]


def _start_processes(supervisor: Supervisor, env: dict[str, str], topology: Topology) -> list[str]:
    """Listeners first, then beat, workers, dispatchers (as ``dialer up`` does)."""
    listens = [f"127.0.0.1:{free_port()}" for _ in range(topology.listeners)]
    for n, listen in enumerate(listens, 1):
        argv = _dialer("serve", "--api-only")
        supervisor.start(Spec(f"listener-{n}", argv, {**env, "DIALER_LISTEN": listen}, 7))
    supervisor.start(Spec("beat", _dialer("beat"), env, 2))
    for n in range(1, topology.workers + 1):
        argv = _dialer("worker", "--name", f"worker-{n}")
        supervisor.start(Spec(f"worker-{n}", argv, env, 3))
    for listen in listens:
        host, port = listen.split(":")
        if not wait_for_port(host, int(port), 60):
            raise RuntimeError(f"listener {listen} did not start (see {supervisor.log_dir})")
    for n in range(1, topology.dispatchers + 1):
        base = {**env, "DIALER_PUBLIC_BASE_URL": f"http://{listens[(n - 1) % len(listens)]}"}
        argv = _dialer("dispatcher", "--name", f"dispatcher-{n}")
        supervisor.start(Spec(f"dispatcher-{n}", argv, base, 1))
    return [f"http://{listen}" for listen in listens]


def _delete_queues(queue: str) -> None:
    try:
        with Connection(AMQP_URL) as conn:
            channel = conn.channel()
            for name in (queue, f"{queue}.maintenance"):
                channel.queue_delete(name)
                channel.exchange_delete(name)
    except Exception as exc:  # a queue left behind is untidy, not worth a failed run
        print(f"(could not delete queue {queue}: {exc!r})")


# ------------------------------------------------------------------ campaigns and leads


async def campaign_with_leads(
    deploy: Deployment, settings: CampaignSettings, leads: int, first_number: int = 0
) -> tuple[Campaign, int]:
    """A running campaign with ``leads`` leads, none of them due yet (``schedule`` makes them
    due); returns the campaign and its first lead id (ids are consecutive). Loaded with one
    INSERT … SELECT each for contacts and leads, as a bulk import would."""
    services = deploy.runtime.services
    campaign = await create_campaign(services, "bench", settings)
    conn = await asyncpg.connect(deploy.database_url)
    try:
        now = datetime.now(UTC)
        await conn.execute(
            """INSERT INTO contacts (tenant_id, phone, tags, attributes, version, created_at)
               SELECT $1, '+1212' || lpad((g + $3)::text, 7, '0'), '[]', '{}', 1, $2
               FROM generate_series(0, $4 - 1) AS g""",
            campaign.tenant_id, now, first_number, leads,
        )  # fmt: skip
        await conn.execute(
            """INSERT INTO leads (campaign_id, contact_id, tenant_id, phone, zone_key, status,
                                  attempts, next_attempt_at, version, updated_at)
               SELECT $1, c.id, c.tenant_id, c.phone, $2, 'PENDING', 0, $3, 1, $4
               FROM contacts c WHERE c.tenant_id = $5 AND c.phone >= $6 ORDER BY c.id""",
            campaign.id, NY, FAR_FUTURE, now, campaign.tenant_id, f"+1212{first_number:07d}",
        )  # fmt: skip
        first = await conn.fetchval("SELECT min(id) FROM leads WHERE campaign_id = $1", campaign.id)
        await conn.execute("ANALYZE contacts; ANALYZE leads")
    finally:
        await conn.close()
    await start_campaign(services, campaign.id)
    return campaign, int(first)


async def schedule(
    deploy: Deployment, campaign_id: int, first_id: int, count: int, rate: float, start: datetime
) -> None:
    """Make leads first_id … first_id+count-1 due one after the other at ``rate`` per second
    from ``start``: lead k is due at start + k / rate."""
    conn = await asyncpg.connect(deploy.database_url)
    try:
        await conn.execute(
            """UPDATE leads SET next_attempt_at =
                   $1::timestamptz + (id - $2::bigint) * interval '1 second' / $3::float8
               WHERE campaign_id = $4 AND id >= $2::bigint AND id < $2::bigint + $5""",
            start, first_id, rate, campaign_id, count,
        )  # fmt: skip
    finally:
        await conn.close()


@dataclass(frozen=True)
class AttemptTimes:
    lead_id: int
    phone: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    initiated_at: datetime | None


async def attempts_between(deploy: Deployment, first_id: int, count: int) -> list[AttemptTimes]:
    """The first attempt of each lead in the id range."""
    conn = await asyncpg.connect(deploy.database_url)
    try:
        rows = await conn.fetch(
            """SELECT DISTINCT ON (lead_id) lead_id, phone, status, created_at, sent_at,
                      initiated_at
               FROM call_attempts WHERE lead_id >= $1 AND lead_id < $1 + $2
               ORDER BY lead_id, number""",
            first_id, count,
        )  # fmt: skip
    finally:
        await conn.close()
    return [AttemptTimes(**dict(row)) for row in rows]


async def due_backlog(deploy: Deployment, campaign_id: int) -> int:
    """Leads due now and not yet claimed."""
    conn = await asyncpg.connect(deploy.database_url)
    try:
        n = await conn.fetchval(
            """SELECT count(*) FROM leads WHERE campaign_id = $1
               AND status IN ('PENDING', 'WAITING_RETRY') AND next_attempt_at <= now()""",
            campaign_id,
        )
    finally:
        await conn.close()
    return int(n)


async def attempt_counts(deploy: Deployment) -> dict[str, int]:
    conn = await asyncpg.connect(deploy.database_url)
    try:
        rows = await conn.fetch("SELECT status, count(*) FROM call_attempts GROUP BY status")
    finally:
        await conn.close()
    return {r[0]: int(r[1]) for r in rows}


async def not_sent_causes(deploy: Deployment) -> dict[str, int]:
    """Attempts voided or failed with a cause that says the create did not go through."""
    conn = await asyncpg.connect(deploy.database_url)
    try:
        rows = await conn.fetch(
            """SELECT split_part(hangup_cause, ':', 1), count(*) FROM call_attempts
               WHERE hangup_cause LIKE 'not sent%' OR hangup_cause LIKE 'rejected%'
               GROUP BY 1"""
        )
    finally:
        await conn.close()
    return {r[0]: int(r[1]) for r in rows}


# ------------------------------------------------------------------ what the simulator saw


def start_instants(stats: dict[str, Any]) -> list[float]:
    """Every call start the simulator recorded (epoch seconds, sorted). The benchmarks' simulator
    runs at speed 1 with its epoch at its start, so these are wall-clock instants."""
    starts = [
        datetime.fromisoformat(s).timestamp()
        for runs in stats["call_starts"].values()
        for s in runs
    ]
    return sorted(starts)


def starts_by_number(stats: dict[str, Any]) -> dict[str, float]:
    """The first start instant per number (epoch seconds)."""
    return {
        number: datetime.fromisoformat(runs[0]).timestamp()
        for number, runs in stats["call_starts"].items()
    }


def max_in_window(instants: Sequence[float], width: float = 1.0) -> int:
    """The most instants in any half-open window [t, t + width) (sorted input)."""
    best, left = 0, 0
    for right, t in enumerate(instants):
        while instants[left] <= t - width:
            left += 1
        best = max(best, right - left + 1)
    return best


# ------------------------------------------------------------------ figures


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(value: float) -> str:
    if math.isinf(value):
        return "> 2,500"  # above the histogram's last finite bucket
    return "—" if math.isnan(value) else f"{value * 1000:,.0f}"


@dataclass
class Histogram:
    """A Prometheus histogram's cumulative buckets, summed over label sets."""

    buckets: dict[float, float] = field(default_factory=lambda: defaultdict(float))
    by_status: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    LINE = re.compile(
        r'^dialer_webhook_request_seconds_bucket\{le="([^"]+)",status="([^"]+)"\} (\S+)'
    )
    LINE_ALT = re.compile(
        r'^dialer_webhook_request_seconds_bucket\{status="([^"]+)",le="([^"]+)"\} (\S+)'
    )

    @classmethod
    def parse(cls, text: str) -> Histogram:
        hist = cls()
        for line in text.splitlines():
            if m := cls.LINE_ALT.match(line):
                status, le, value = m.groups()
            elif m := cls.LINE.match(line):
                le, status, value = m.groups()
            else:
                continue
            bound = math.inf if le == "+Inf" else float(le)
            hist.buckets[bound] += float(value)
            if bound == math.inf:
                hist.by_status[status] += float(value)
        return hist

    def add(self, other: Histogram) -> None:
        for bound, n in other.buckets.items():
            self.buckets[bound] += n
        for status, n in other.by_status.items():
            self.by_status[status] += n

    def minus(self, earlier: Histogram) -> Histogram:
        diff = Histogram()
        for bound, n in self.buckets.items():
            diff.buckets[bound] = n - earlier.buckets.get(bound, 0.0)
        for status, n in self.by_status.items():
            diff.by_status[status] = n - earlier.by_status.get(status, 0.0)
        return diff

    @property
    def count(self) -> float:
        return self.buckets.get(math.inf, 0.0)

    def quantile_bound(self, q: float) -> float:
        """The upper bound of the bucket holding the q-quantile (seconds)."""
        total = self.count
        if not total:
            return math.nan
        for bound in sorted(self.buckets):
            if self.buckets[bound] >= q * total:
                return bound
        return math.inf

    def errors(self) -> float:
        return sum(n for status, n in self.by_status.items() if not status.startswith("2"))


# ------------------------------------------------------------------ CPU and memory


@dataclass
class Sample:
    at: float  # seconds since the sampler started
    rss: dict[str, float]  # process name -> MiB (the process and its children)


class ProcessSampler:
    """Reads CPU time and resident memory of every supervised process (children included: a
    worker's pool) every ``every`` seconds. CPU of a child that exited between two samples is
    counted up to its last sample."""

    def __init__(self, supervisor: Supervisor, every: float = 2.0) -> None:
        self.supervisor = supervisor
        self.every = every
        self.samples: list[Sample] = []
        self._cpu: dict[int, tuple[str, float]] = {}  # pid -> (name, cpu seconds)
        self._started = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.sample()

    async def _run(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.every)

    def sample(self) -> Sample:
        rss: dict[str, float] = {}
        for name in self.supervisor.names:
            total = 0.0
            for proc in self._tree(self.supervisor.pid(name)):
                try:
                    times = proc.cpu_times()
                    total += proc.memory_info().rss / 2**20
                    self._cpu[proc.pid] = (name, times.user + times.system)
                except psutil.Error:
                    continue
            rss[name] = total
        sample = Sample(time.monotonic() - self._started, rss)
        self.samples.append(sample)
        return sample

    @staticmethod
    def _tree(pid: int) -> list[psutil.Process]:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu_by_kind(self) -> dict[str, float]:
        """CPU seconds so far by kind of process (dispatcher, worker, listener, …)."""
        kinds: dict[str, float] = defaultdict(float)
        for name, seconds in self._cpu.values():
            kinds[name.split("-")[0]] += seconds
        return dict(kinds)

    def dialer_cpu(self) -> float:
        return sum(s for kind, s in self.cpu_by_kind().items() if kind in DIALER_PROCESSES)


def slope_mib_per_min(points: Iterable[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per minute."""
    pts = list(points)
    if len(pts) < 2:
        return math.nan
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    return 60 * sxy / sxx if sxx else math.nan


# ------------------------------------------------------------------ the machine


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({cpu}), {ram:.0f} GiB RAM, load average {load}"


# ------------------------------------------------------------------ the simulator process


def _run_simulator(config_json: str, port: int) -> None:
    """The simulator with its epoch at its own start, so that the observer records each call's
    start instant in wall-clock time (speed 1)."""
    from dialer.simulator.config import config_from
    from dialer.simulator.server import serve

    values = json.loads(config_json)
    values.setdefault("epoch", datetime.now(UTC).isoformat())
    serve(config_from(values), "127.0.0.1", port)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "simulator":
        _run_simulator(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("usage: python -m benchmarks.deployment simulator CONFIG_JSON PORT")

"""The chaos run: a campaign dialled by real dispatcher and worker processes while they are
killed (SIGKILL, with their pools) one at a time every few seconds and restarted, while the
admission Redis is restarted once (losing everything: no persistence), and while the
simulated provider answers 5 % of creates with 5xx, loses 2 % of callbacks, and duplicates
and reorders 5 % of them. It stops by itself (bounded in time) and reports:

* every lead in a terminal state;
* zero repeated originations of one attempt, zero overlapping calls to one number, and the
  peak of concurrent calls against the cap — all three counted by the simulator's observer;
* the dead-letter queue holding exactly the failures: jobs injected on purpose (for attempts
  that do not exist, and one malformed), each exactly once, with its cause — however often
  a killed worker's task was delivered again — and nothing else;
* the attempts a worker left behind when it died right after its sent marker: resolved by
  the reaper once their lease expired (the provider never heard of them), never re-dialled;
* no lease left in admission once the calls have ended;
* no status callback answered anything but 2xx, though Redis went away while callbacks were
  in flight: the database stays up, so every event is stored, and a stored event is answered
  2xx whatever happens to admission afterwards (counted by the simulator).

Run small in the test suite (tests/e2e/cluster/test_chaos.py) and large as a benchmark
(benchmarks/chaos.py). The Redis it restarts is its own, on a port of its own: never the
machine's shared one.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from kombu import Connection
from sqlalchemy import func, select

from dialer.adapters.admission.redis import RedisAdmission
from dialer.adapters.executor.celery_app import ORIGINATE_TASK, make_celery_app
from dialer.adapters.store.cluster_tables import dead_letters
from dialer.adapters.store.tables import call_attempts, leads
from dialer.bootstrap import Runtime, open_runtime
from dialer.cli.simproc import simulator_process
from dialer.cli.supervise import Spec, Supervisor, free_port, wait_for_port
from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.domain.statuses import TERMINAL_LEAD, CampaignStatus
from dialer.ports import ContactDraft
from dialer.services.campaigns import create_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.services.dispatch import Dispatcher
from dialer.settings import Settings, load_settings
from dialer.simulator.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
REAPED = "lease expired; outcome unknown"
PROGRESS_SECONDS = 10.0
NY = zone_key(("America/New_York",))
FAULTS = ["--error-rate", "0.05", "--lost-callback-rate", "0.02"]
FAULTS += ["--duplicate-callback-rate", "0.05", "--reorder-rate", "0.05"]


@dataclass(frozen=True)
class ChaosPlan:
    leads: int
    cap: int
    lease_ttl: int  # below 75 s only in the suite: see ``_campaign``
    seconds: float  # the run gives up this long after the campaign started
    workers: int = 3
    dispatchers: int = 2
    kill_every: float = 3.0  # seconds between two kills
    kills_for: float = 0.0  # kill only during this many seconds from the start (0: all along)
    redis_restart_at: float = 12.0  # seconds into the run
    redis_down_seconds: float = 2.0
    speed: float = 20.0  # the simulator's: ring and talk times are divided by it
    poison: int = 5  # jobs for attempts that do not exist, injected into the queue
    orphans: int = 3  # attempts left sent-but-unknown by a worker that died
    max_attempts: int = 3  # per lead (no answer, busy and dropped calls are retried)
    webhook_listeners: int = 2  # the HTTP tier: each dispatcher's callbacks go to one of them
    seed: int = 1
    redis_port: int = 0  # 0: any free port
    quiet: bool = True  # no progress lines


@dataclass
class ChaosReport:
    seconds: float = 0.0
    leads: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    reaped: int = 0
    orphans_reaped: int = 0
    not_sent: Counter[str] = field(default_factory=Counter)  # by cause
    stats: dict[str, Any] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)
    redis_restarts: int = 0
    unexpected_exits: Counter[str] = field(default_factory=Counter)
    letters: list[tuple[str, int, str]] = field(default_factory=list)  # key, tries, cause
    expected_letters: set[str] = field(default_factory=set)
    leases_left: int = -1
    campaign_status: str = ""
    cap: int = 0

    @property
    def unfinished(self) -> int:
        return sum(n for status, n in self.leads.items() if status not in _TERMINAL)

    @property
    def unexpected_letters(self) -> list[tuple[str, int, str]]:
        return [x for x in self.letters if x[0] not in self.expected_letters]

    @property
    def missing_letters(self) -> set[str]:
        return self.expected_letters - {x[0] for x in self.letters}

    def lines(self) -> list[str]:
        s = self.stats
        return [
            f"run: {self.seconds:.0f} s, campaign {self.campaign_status}; "
            f"kills {dict(self.kills)} ({sum(self.kills.values())}), "
            f"Redis restarts {self.redis_restarts}, exits on their own "
            f"{dict(self.unexpected_exits) or 0}",
            f"leads: {sum(self.leads.values())}, by state {dict(self.leads)}; "
            f"not terminal: {self.unfinished}",
            f"attempts: {sum(self.attempts.values())}, by state {dict(self.attempts)}; "
            f"voided before sending {sum(self.not_sent.values())} {dict(self.not_sent)}; "
            f"ended by the reaper {self.reaped} "
            f"(of them the dead worker's orphans: {self.orphans_reaped})",
            f"provider: {s.get('calls_created')} calls, 5xx {s.get('rejected_5xx')}, "
            f"callbacks lost {s.get('callbacks_lost')}, duplicated "
            f"{s.get('callbacks_duplicated')}, reordered {s.get('callbacks_reordered')}",
            f"callbacks answered non-2xx (the database stayed up, so each was a stored event): "
            f"4xx {s.get('callbacks_answered_4xx')}, 5xx {s.get('callbacks_answered_5xx')}",
            f"repeated originations of one attempt: {s.get('repeated_originations')}; "
            f"overlapping calls to one number: {s.get('overlapping_calls_to_same_number')}; "
            f"peak concurrency {s.get('peak_active')} (cap {self.cap})",
            f"dead letters: {len(self.letters)} (expected {len(self.expected_letters)}, "
            f"missing {len(self.missing_letters)}, unexpected {len(self.unexpected_letters)}); "
            f"causes {sorted(Counter(c.split(':')[0] for _, _, c in self.letters).items())}",
            f"leases left in admission: {self.leases_left}",
        ]


_TERMINAL = {status.value for status in TERMINAL_LEAD}


# ------------------------------------------------------------------ the run


async def run_chaos(plan: ChaosPlan, database_url: str, logs: Path) -> ChaosReport:
    rng = random.Random(plan.seed)
    redis_port = plan.redis_port or free_port()
    queue = f"chaos-{uuid.uuid4().hex[:8]}"
    supervisor = Supervisor(logs)
    report = ChaosReport(cap=plan.cap)
    started = time.monotonic()
    try:
        start_private_redis(supervisor, redis_port)
        sim_args = ["--speed", str(plan.speed), "--cps", "1000", "--seed", str(plan.seed)]
        sim_args += ["--talk-mean", "10", "--ring-max", "6", *FAULTS]
        with simulator_process(sim_args) as sim_url:
            env = _environment(plan, database_url, redis_port, queue, sim_url)
            settings = settings_from_env(env)
            async with open_runtime(settings) as runtime:
                orphans = await _dead_worker_leftovers(runtime, plan)
                campaign = await _campaign(runtime, plan)
                _start_processes(supervisor, env, plan)
                expected = _inject_poison(settings, queue, plan, campaign)
                await start_campaign(runtime.services, campaign.id)
                await _unleash(supervisor, runtime, plan, rng, report, redis_port)
                await _collect(runtime, report, campaign, orphans, expected)
            report.stats = await _stats(sim_url)
        report.leases_left = await _leases_left(env, plan)
    finally:
        supervisor.stop_all(timeout=15)
        _delete_queues(queue)
    report.seconds = time.monotonic() - started
    return report


def _environment(
    plan: ChaosPlan, database_url: str, redis_port: int, queue: str, sim_url: str
) -> dict[str, str]:
    return {
        "DIALER_DATABASE_URL": database_url,
        "DIALER_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DIALER_BROKER_URL": AMQP_URL,
        "DIALER_DEFAULT_QUEUE": queue,
        "DIALER_GLOBAL_MAX_CONCURRENCY": str(plan.cap),
        "DIALER_CAMPAIGN_MAX_CONCURRENCY": str(plan.cap),
        "DIALER_LEASE_TTL_SECONDS": str(plan.lease_ttl),
        "DIALER_REAPER_SECONDS": "2",
        "DIALER_RECONCILE_SECONDS": "2",
        "DIALER_HOUSEKEEPING_SECONDS": "1",
        "DIALER_UNSENT_GRACE_SECONDS": "10",
        "DIALER_QUIET_CALL_SECONDS": "5",
        "DIALER_HEARTBEAT_SECONDS": "1",
        "DIALER_TICK_SECONDS": "0.02",
        "DIALER_TASK_BATCH_SIZE": "50",
        "DIALER_WORKER_IN_FLIGHT": "50",
        "DIALER_TWILIO_API_BASE": sim_url,
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
    }


def settings_from_env(env: dict[str, str]) -> Settings:
    values: dict[str, Any] = {
        k.removeprefix("DIALER_").lower(): v for k, v in env.items() if k.startswith("DIALER_")
    }
    return load_settings(
        **values,
        twilio_account_sid=env["TWILIO_ACCOUNT_SID"],
        twilio_auth_token=env["TWILIO_AUTH_TOKEN"],
    )


def start_private_redis(supervisor: Supervisor, port: int) -> None:
    server = shutil.which("redis-server") or "redis-server"
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    argv += ["no", "--maxmemory-policy", "noeviction"]
    supervisor.start(Spec("redis", argv, stop_rank=10))
    if not wait_for_port("127.0.0.1", port, 10):
        raise RuntimeError(f"redis-server did not start on port {port} (in use?)")


def _dialer(*args: str) -> list[str]:
    return [sys.executable, "-m", "dialer.cli", *args]


def _start_processes(supervisor: Supervisor, env: dict[str, str], plan: ChaosPlan) -> None:
    """Webhook listeners first (dispatcher n's callbacks go to listener n mod L, as behind a
    load balancer), then beat, the workers and the dispatchers."""
    listeners = []
    for n in range(1, plan.webhook_listeners + 1):
        listen = f"127.0.0.1:{free_port()}"
        argv = _dialer("webhooks", "--name", f"hooks-{n}", "--listen", listen)
        supervisor.start(Spec(f"webhooks-{n}", argv, {**env, "DIALER_LISTEN": listen}, 7))
        listeners.append(listen)
    supervisor.start(Spec("beat", _dialer("beat"), env, 2))
    for n in range(1, plan.workers + 1):
        argv = _dialer("worker", "--name", f"worker-{n}", "--concurrency", "1")
        supervisor.start(Spec(f"worker-{n}", argv, env, 3))
    for n in range(1, plan.dispatchers + 1):
        listen = listeners[(n - 1) % len(listeners)]
        hooks = {**env, "DIALER_PUBLIC_BASE_URL": f"http://{listen}"}
        supervisor.start(
            Spec(f"dispatcher-{n}", _dialer("dispatcher", "--name", f"d{n}"), hooks, 1)
        )
    for listen in listeners:
        host, port = listen.split(":")
        wait_for_port(host, int(port), 30)


def _contacts(count: int, first: int) -> list[ContactDraft]:
    return [ContactDraft(f"+1212{first + i:07d}", NY) for i in range(count)]


def _retry(max_attempts: int) -> RetryPolicy:
    soon = FixedDelays((2,))
    rules = dict.fromkeys((Outcome.NO_ANSWER, Outcome.BUSY, Outcome.DISCONNECTED), soon)
    return RetryPolicy(
        max_attempts, rules | {Outcome.FAILED: FixedDelays(()), Outcome.UNKNOWN: soon}
    )


def _campaign_settings(name: str, cap: int, max_attempts: int) -> CampaignSettings:
    return CampaignSettings(
        name,
        "+14155550100",
        max_concurrency=cap,
        retry=_retry(max_attempts),
        ramp_up=0,
        ring_timeout=5,
        max_call_duration=10,
    )


async def _campaign(runtime: Runtime, plan: ChaosPlan) -> Campaign:
    """The campaign, with its leads. With a lease under 75 s (the suite's shortcut, so that
    leases lost with a dead worker come back within the test's time), the campaign is stored
    without the service's lease check: that check counts ring and talk in real seconds, while
    here the provider runs them ``speed`` times faster (the longest call lasts 15 simulated
    seconds: under a second of real time, far inside the lease)."""
    settings = _campaign_settings("chaos", plan.cap, plan.max_attempts)
    services = runtime.services
    if plan.lease_ttl >= 75:
        campaign = await create_campaign(services, "chaos", settings)
    else:
        async with services.store.unit() as uow:
            campaign = await uow.campaigns.add(
                await uow.tenants.id_for("chaos"), settings, services.clock.now()
            )
            await uow.commit()
    await import_drafts(services, campaign.id, _contacts(plan.leads, 1_000_000))
    return campaign


class _Keeping:
    def __init__(self) -> None:
        self.kept: list[Any] = []

    async def submit(self, batch: Any) -> None:
        self.kept.extend(batch)

    async def drain(self) -> None:
        return None


async def _dead_worker_leftovers(runtime: Runtime, plan: ChaosPlan) -> list[int]:
    """Attempts as a worker leaves them when it dies right after setting their sent marker,
    before its request reached the provider: admitted (leases held in Redis), marked sent,
    and unknown to the provider. Only the reaper may settle them, after their lease."""
    services = runtime.services
    settings = _campaign_settings("orphans", plan.orphans, plan.max_attempts)
    async with services.store.unit() as uow:
        campaign = await uow.campaigns.add(
            await uow.tenants.id_for("chaos"), settings, services.clock.now()
        )
        await uow.commit()
    await import_drafts(services, campaign.id, _contacts(plan.orphans, 2_000_000))
    await start_campaign(services, campaign.id)
    keeper = _Keeping()
    dispatcher = Dispatcher(services, keeper)
    for _ in range(100):
        if len(keeper.kept) >= plan.orphans:
            break
        await dispatcher.run_once()
    async with services.store.unit() as uow:
        for job in keeper.kept:
            assert await uow.attempts.mark_sending(job.attempt_id, services.clock.now())
        await uow.commit()
    return [job.attempt_id for job in keeper.kept]


def _inject_poison(settings: Settings, queue: str, plan: ChaosPlan, campaign: Campaign) -> set[str]:
    """Jobs that must fail (attempts that do not exist; one malformed), straight into the
    queue the workers read: the dead letters expected, by key."""
    app = make_celery_app(settings)
    template = {
        "lead_id": 1,
        "campaign_id": campaign.id,
        "tenant_id": campaign.tenant_id,
        "lease_id": "poison",
        "request": {
            "attempt_id": 0,
            "to": "+12125550000",
            "from_": "+14155550100",
            "status_callback_url": "",
            "ring_timeout": 5,
            "time_limit": 10,
        },
    }
    ghosts = [{**template, "attempt_id": 10**9 + n} for n in range(plan.poison)]
    malformed = {"attempt_id": "not a number"}
    try:
        for job in [*ghosts, malformed]:
            app.send_task(ORIGINATE_TASK, args=[[job]], queue=queue)
    finally:
        app.close()
    from dialer.ports.jobs import job_key  # the key a dead letter is kept under

    return {job_key(job) for job in [*ghosts, malformed]}


async def _unleash(
    supervisor: Supervisor,
    runtime: Runtime,
    plan: ChaosPlan,
    rng: random.Random,
    report: ChaosReport,
    redis_port: int,
) -> None:
    """Kill and restart until every campaign is finished (or time is up): the clock of the
    kills, the Redis restart and the time bound starts with the campaign."""
    started = time.monotonic()
    victims = [n for n in supervisor.names if n.startswith(("worker-", "dispatcher-"))]
    next_kill = time.monotonic() + plan.kill_every
    next_line = time.monotonic()
    redis_done = False
    while time.monotonic() - started < plan.seconds:
        now = time.monotonic()
        killing = not plan.kills_for or now - started < plan.kills_for
        if killing and now >= next_kill:
            victim = rng.choice(victims)
            supervisor.kill(victim)
            supervisor.restart(victim)
            report.kills[victim.split("-")[0]] += 1
            next_kill += plan.kill_every
        if not redis_done and now - started >= plan.redis_restart_at:
            supervisor.kill("redis")
            await asyncio.sleep(plan.redis_down_seconds)
            supervisor.restart("redis")
            wait_for_port("127.0.0.1", redis_port, 10)
            report.redis_restarts += 1
            redis_done = True
        for name in supervisor.revive(min_uptime=1.0):
            report.unexpected_exits[name] += 1
        if await _all_done(runtime):
            return
        if not plan.quiet and now >= next_line:
            await _progress_line(runtime, started, report)
            next_line = now + PROGRESS_SECONDS
        await asyncio.sleep(0.5)


async def _all_done(runtime: Runtime) -> bool:
    async with runtime.store.unit() as uow:
        running = await uow.campaigns.in_status([CampaignStatus.RUNNING])
    return not running


async def _progress_line(runtime: Runtime, started: float, report: ChaosReport) -> None:
    async with runtime.store.unit() as uow:
        live = await uow.views.live_attempts()
        conn = uow._conn  # type: ignore[attr-defined]
        finished = await conn.scalar(
            select(func.count()).where(leads.c.status.in_(sorted(_TERMINAL)))
        )
    print(
        f"  {time.monotonic() - started:6.0f} s: {finished} leads finished, {live} calls live, "
        f"{sum(report.kills.values())} kills, {report.redis_restarts} Redis restarts",
        flush=True,
    )


async def _collect(
    runtime: Runtime,
    report: ChaosReport,
    campaign: Campaign,
    orphans: list[int],
    expected: set[str],
) -> None:
    async with runtime.store.unit() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        for status, n in await conn.execute(
            select(leads.c.status, func.count()).group_by(leads.c.status)
        ):
            report.leads[status] += n
        rows = (await conn.execute(select(call_attempts))).all()
        letters = (await conn.execute(select(dead_letters).order_by(dead_letters.c.id))).all()
        report.campaign_status = (await uow.campaigns.get(campaign.id)).status.value
    for row in rows:
        report.attempts[row.status] += 1
        report.reaped += row.hangup_cause == REAPED
        report.orphans_reaped += row.id in orphans and row.hangup_cause == REAPED
        if row.hangup_cause and row.hangup_cause.startswith("not sent"):
            report.not_sent[row.hangup_cause.split("(")[0].strip()] += 1
    report.letters = [(x.dedupe_key, x.attempts, x.cause) for x in letters]
    report.expected_letters = expected


async def _stats(sim_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sim_url) as client:
        return dict((await client.get("/_sim/stats")).json())


async def _leases_left(env: dict[str, str], plan: ChaosPlan) -> int:
    """Leases still held once every call has ended: a lost release is reclaimed by lease
    expiry at the latest, so wait (bounded) for the count to reach zero."""
    admission = RedisAdmission.from_url(env["DIALER_REDIS_URL"], namespace="dialer", timeout=2)
    try:
        for _ in range(plan.lease_ttl + 5):
            held = (await admission.usage()).global_active
            if not held:
                break
            await asyncio.sleep(1)
        return held
    finally:
        await admission.aclose()


def _delete_queues(queue: str) -> None:
    with Connection(AMQP_URL) as conn:
        channel = conn.channel()
        for name in (queue, f"{queue}.maintenance"):
            channel.queue_delete(name)
            channel.exchange_delete(name)


@asynccontextmanager
async def chaos_database(server: str) -> AsyncIterator[str]:
    """A database of its own for a benchmark run, dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"dialer_chaos_{datetime.now(UTC):%Y%m%d%H%M%S}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{server}/{name}"
    finally:
        admin = await asyncpg.connect(f"{server}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

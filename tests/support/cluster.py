"""What the cluster tests share: the processes of one test (its database, Redis namespace and
broker queues), campaigns, polling loops bounded in time, direct reads."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kombu import Connection
from redis.asyncio import Redis
from sqlalchemy import select
from typer.testing import CliRunner

from dialer.adapters.store.tables import call_attempts
from dialer.bootstrap import Runtime
from dialer.cli.main import app
from dialer.cli.supervise import Spec, Supervisor
from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import TERMINAL_LEAD, CampaignStatus
from dialer.ports import ContactDraft, Origination, Store
from dialer.services.batches import JobPolicy
from dialer.services.campaigns import create_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.services.context import Services
from dialer.services.dispatch import Dispatcher
from dialer.settings import Settings, load_settings
from dialer.simulator.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from tests.support.engine import SID, TOKEN, Engine, HeldExecutor
from tests.support.redis import REDIS_URL

NY = zone_key(("America/New_York",))


def drafts(count: int, prefix: str = "+1212") -> list[ContactDraft]:
    return [ContactDraft(f"{prefix}{5550000 + i:07d}", NY) for i in range(count)]


async def running_campaign(
    services: Services, name: str, contacts: list[ContactDraft], **changes: Any
) -> Campaign:
    values: dict[str, Any] = {
        "name": name,
        "caller_id": "+14155550100",
        "max_concurrency": 20,
        "retry": RetryPolicy(1),
        "ramp_up": 0,
        "ring_timeout": 10,
        "max_call_duration": 60,
        **changes,
    }
    campaign = await create_campaign(services, "acme", CampaignSettings(**values))
    await import_drafts(services, campaign.id, contacts)
    await start_campaign(services, campaign.id)
    return campaign


async def dispatch_until(
    runtime: Runtime,
    done: Callable[[], Awaitable[bool]],
    seconds: float,
    what: str,
    alive: Callable[[], None] | None = None,
) -> int:
    """Run dispatcher ticks until ``done``; how many calls were handed out."""
    handed = 0
    deadline = time.monotonic() + seconds
    while not await done():
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        handed += (await runtime.dispatcher.run_once()).originated
        await asyncio.sleep(0.02)
    return handed


async def campaign_done(store: Store, campaign_id: int) -> bool:
    async with store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
        counts = await uow.views.lead_counts(campaign_id)
    finished = all(status in TERMINAL_LEAD for status, n in counts.items() if n)
    return finished and campaign.status is CampaignStatus.COMPLETED


async def attempts_of(store: Store, campaign_id: int) -> list[dict[str, Any]]:
    """Every attempt's row, sent marker included (the domain object does not carry it)."""
    async with store.unit() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        stmt = (
            select(call_attempts)
            .where(call_attempts.c.campaign_id == campaign_id)
            .order_by(call_attempts.c.id)
        )
        return [dict(row._mapping) for row in await conn.execute(stmt)]


async def simulator_stats(sim_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sim_url) as client:
        return dict((await client.get("/_sim/stats")).json())


AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
BROKERS = {"redis": REDIS_URL, "amqp": AMQP_URL}
POLICY = JobPolicy(retries=3, backoff=0.01, in_flight=8)


@dataclass
class Cluster:
    """What one test's processes share, and how to start them."""

    database_url: str
    namespace: str
    broker_url: str
    queue: str
    logs: Path
    sim_url: str = ""
    webhook_base: str = ""
    overrides: dict[str, str] = field(default_factory=dict)
    extra_queues: list[str] = field(default_factory=list)  # removed with the test's own
    supervisor: Supervisor = field(init=False)

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.logs)

    def env(self, **extra: object) -> dict[str, str]:
        values: dict[str, object] = {
            "DIALER_DATABASE_URL": self.database_url,
            "DIALER_REDIS_URL": REDIS_URL,
            "DIALER_REDIS_NAMESPACE": self.namespace,
            "DIALER_BROKER_URL": self.broker_url,
            "DIALER_DEFAULT_QUEUE": self.queue,
            "DIALER_BROKER_VISIBILITY_TIMEOUT": 5,
            "DIALER_HEARTBEAT_SECONDS": 0.5,
            "DIALER_TWILIO_API_BASE": self.sim_url,
            "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
            "DIALER_PUBLIC_BASE_URL": self.webhook_base or "http://127.0.0.1:9",
            "DIALER_LISTEN": "127.0.0.1:0",
            **self.overrides,
            **{f"DIALER_{k.upper()}": v for k, v in extra.items()},
        }
        return {k: str(v) for k, v in values.items()}

    def share(self, **values: object) -> None:
        """Settings for every process of this test, the test's own included."""
        self.overrides.update({f"DIALER_{k.upper()}": str(v) for k, v in values.items()})

    def settings(self, **extra: object) -> Settings:
        env = self.env(**extra)
        values: dict[str, Any] = {
            key.removeprefix("DIALER_").lower(): value
            for key, value in env.items()
            if key.startswith("DIALER_")
        }
        values["twilio_account_sid"] = env["TWILIO_ACCOUNT_SID"]
        values["twilio_auth_token"] = env["TWILIO_AUTH_TOKEN"]
        return load_settings(**values)

    def start(self, name: str, *args: str, **extra: object) -> int:
        argv = [sys.executable, "-m", "dialer.cli", *args]
        return self.supervisor.start(Spec(name, argv, self.env(**extra)))

    def start_worker(self, name: str, *args: str, **extra: object) -> int:
        return self.start(name, "worker", "--name", name, "--concurrency", "1", *args, **extra)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


async def drop_broker_state(cluster: Cluster) -> None:
    """Remove what the test left on its broker: Celery keys on Redis, or queues on RabbitMQ."""
    if cluster.broker_url.startswith("redis"):
        client = Redis.from_url(REDIS_URL)
        try:
            async for key in client.scan_iter(match=f"{cluster.namespace}:celery:*", count=1000):
                await client.delete(key)
        finally:
            await client.aclose()
        return
    delete_amqp_queues([cluster.queue, f"{cluster.queue}.maintenance", *cluster.extra_queues])


def delete_amqp_queues(names: Sequence[str]) -> None:
    with Connection(AMQP_URL) as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)
            channel.exchange_delete(name)


async def queued_jobs(e: Engine, count: int, **changes: Any) -> tuple[Campaign, list[Origination]]:
    """A campaign's calls admitted and recorded by the real dispatcher, kept unsent."""
    changes = {"name": "batch", **changes}
    campaign = await running_campaign(
        e.runtime.services, changes.pop("name"), drafts(count), **changes
    )
    keeper = HeldExecutor()
    dispatcher = Dispatcher(e.runtime.services, keeper)
    for _ in range(50):
        if len(keeper.kept) >= count:
            break
        await dispatcher.run_once()
    assert len(keeper.kept) == count
    return campaign, keeper.kept


def alive(cluster: Cluster, name: str) -> Callable[[], None]:
    """A check that fails, with the end of its log, once worker ``name`` has died."""

    def check() -> None:
        if not cluster.supervisor.alive(name):
            raise AssertionError(f"worker {name} died:\n{cluster.log(name)[-3000:]}")

    return check


def cli(database_url: str, *args: str) -> Any:
    """A ``dialer`` command run in process on ``database_url`` (its provider never called)."""
    env = {
        "DIALER_DATABASE_URL": database_url,
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "DIALER_TWILIO_API_BASE": "http://127.0.0.1:9",
    }
    return CliRunner().invoke(app, list(args), env=env)

"""Distributed execution on the real servers: PostgreSQL, Redis (admission and, in half the
tests, the Celery broker) and RabbitMQ, with the dialer's processes started for real.

Each test gets its own database (truncated), Redis key namespace, and broker queues (unique
names), removed afterwards, so that tests — and other engineers' — never see each other's
work. Only the telephony provider is simulated, over HTTP."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from redis.asyncio import Redis

from dialer.cli.supervise import Spec, Supervisor
from dialer.ports import Origination
from dialer.settings import Settings, load_settings
from dialer.simulator.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from tests.admission.conftest import REDIS_URL, drop_namespace
from tests.services.conftest import engine, sim_config  # noqa: F401  (fixtures used here)

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
BROKERS = {"redis": REDIS_URL, "amqp": AMQP_URL}


class KeepingExecutor:
    """Keeps the dispatcher's batches instead of sending them: the test plays the worker."""

    def __init__(self) -> None:
        self.kept: list[Origination] = []

    async def submit(self, batch: Sequence[Origination]) -> None:
        self.kept.extend(batch)

    async def drain(self) -> None:
        return None


@pytest.fixture
def backend() -> str:
    """Distributed execution runs on PostgreSQL only."""
    return "postgresql"


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


@pytest.fixture(params=sorted(BROKERS))
def broker(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def cluster(database_url: str, broker: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    tag = uuid.uuid4().hex[:10]
    made = Cluster(database_url, f"test-{tag}", BROKERS[broker], f"test-{tag}", tmp_path / "logs")
    try:
        yield made
    finally:
        made.supervisor.stop_all(timeout=10)
        await drop_namespace(REDIS_URL, made.namespace)
        await _drop_broker_state(made)


async def _drop_broker_state(cluster: Cluster) -> None:
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

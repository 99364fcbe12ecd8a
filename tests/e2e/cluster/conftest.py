"""Distributed execution on the real servers: PostgreSQL, Redis (admission and, in half the
tests, the Celery broker) and RabbitMQ, with the dialer's processes started for real.

Each test gets its own database (truncated), Redis key namespace, and broker queues (unique
names), removed afterwards, so that tests — and other engineers' — never see each other's
work. Only the telephony provider is simulated, over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.cluster import BROKERS, Cluster, drop_broker_state
from tests.support.redis import REDIS_URL, drop_namespace


@pytest.fixture
def backend() -> str:
    """Distributed execution runs on PostgreSQL only."""
    return "postgresql"


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
        await drop_broker_state(made)

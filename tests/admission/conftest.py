"""Admission backends under the one contract. Each backend is a real implementation: the Redis
one runs on the local server, each test in its own key namespace (removed afterwards)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from dialer.adapters.admission.memory import MemoryAdmission
from dialer.adapters.admission.redis import RedisAdmission
from dialer.ports import Admission

ADMISSION_BACKENDS = ["memory", "redis"]
REDIS_URL = os.environ.get("DIALER_TEST_REDIS", "redis://127.0.0.1:6379/0")

# Builds a backend of the parametrised kind; ready=False: its state is not known-good yet
# (a fresh process, or Redis after losing its data) until rebuild() has run.
MakeAdmission = Callable[..., Awaitable[Admission]]


async def drop_namespace(url: str, namespace: str) -> None:
    """Delete a test namespace's keys (tests only: production code never scans keys)."""
    client = Redis.from_url(url)
    try:
        async for key in client.scan_iter(match=f"{{{namespace}}}:*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture(params=ADMISSION_BACKENDS)
async def make_admission(request: pytest.FixtureRequest) -> AsyncIterator[MakeAdmission]:
    opened: list[tuple[RedisAdmission, str]] = []

    async def make(*, ready: bool = True) -> Admission:
        if request.param == "memory":
            return MemoryAdmission(time.time, ready=ready)
        namespace = f"test-{uuid.uuid4().hex}"
        admission = RedisAdmission.from_url(REDIS_URL, namespace=namespace)
        opened.append((admission, namespace))
        if ready:
            await admission.rebuild([])
        return admission

    yield make
    for admission, namespace in opened:
        await admission.aclose()
        await drop_namespace(REDIS_URL, namespace)


@pytest.fixture
async def admission(make_admission: MakeAdmission) -> Admission:
    return await make_admission()

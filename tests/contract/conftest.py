"""Admission backends under the one contract. Each backend is a real implementation: the Redis
one runs on the local server, each test in its own key namespace (removed afterwards).

Store backends likewise: a SQLite file, a PostgreSQL database and the in-memory store, each
clean for each test. A test of what only SQL has (SKIP LOCKED across two connections) pins
``backend`` to the databases that have it."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest

from dialer.adapters.admission.memory import MemoryAdmission
from dialer.adapters.admission.redis import RedisAdmission
from dialer.bootstrap import MEMORY_URL, build_store, prepare_store
from dialer.ports import Admission, Store
from tests.support.admission import MakeAdmission
from tests.support.databases import BACKENDS
from tests.support.redis import REDIS_URL, drop_namespace

ADMISSION_BACKENDS = ["memory", "redis"]
STORE_BACKENDS = [*BACKENDS, "memory"]


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


@pytest.fixture(params=STORE_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, request: pytest.FixtureRequest) -> str:
    """``memory://``, or the URL of a clean, migrated database."""
    if backend == "memory":
        return MEMORY_URL
    return str(request.getfixturevalue("database_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """The store the URL names, as the composition root builds it."""
    store = build_store(store_url)
    await prepare_store(store)
    yield store
    await store.close()

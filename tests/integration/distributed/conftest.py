"""Distributed admission on the real Redis (and PostgreSQL): each test in its own key
namespace, removed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from dialer.adapters.admission.redis import RedisAdmission
from tests.support.redis import REDIS_URL, drop_namespace


@pytest.fixture
async def namespace() -> AsyncIterator[str]:
    name = f"test-{uuid.uuid4().hex}"
    yield name
    await drop_namespace(REDIS_URL, name)


@pytest.fixture
async def redis_admission(namespace: str) -> AsyncIterator[RedisAdmission]:
    admission = RedisAdmission.from_url(REDIS_URL, namespace=namespace)
    await admission.rebuild([])
    yield admission
    await admission.aclose()

"""Admission backends under the one contract. Each backend is a real implementation."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from dialer.adapters.admission.memory import MemoryAdmission
from dialer.ports import Admission

ADMISSION_BACKENDS = ["memory"]


@pytest.fixture(params=ADMISSION_BACKENDS)
async def admission(request: pytest.FixtureRequest) -> AsyncIterator[Admission]:
    if request.param == "memory":
        yield MemoryAdmission(time.time)
        return
    raise AssertionError(f"unknown admission backend {request.param}")

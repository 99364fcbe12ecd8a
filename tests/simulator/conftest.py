"""Fixtures for the simulator tests: a signed-callback receiver on a real port, and fast
simulator settings (speed 100, short rings)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from dialer.simulator.config import SimulatorConfig
from dialer.simulator.recorder import CallbackRecorder
from dialer.simulator.server import running_app

TOKEN = "test-token"
ACCOUNT_SID = "AC" + "ab" * 16
FAST = {
    "account_sid": ACCOUNT_SID,
    "auth_token": TOKEN,
    "speed": 100.0,
    "setup_time": 0.5,
    "ring_min": 1.0,
    "ring_max": 3.0,
    "busy_ring": 1.0,
    "talk_mean": 5.0,
    "drop_after_max": 3.0,
    "callback_retry_delay": 1.0,
    "seed": 7,
}


@dataclass
class Receiver:
    recorder: CallbackRecorder
    base_url: str

    def url(self, path: str = "/cb") -> str:
        return self.base_url + path


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recorder = CallbackRecorder(TOKEN)
    async with running_app(recorder.app) as url:
        yield Receiver(recorder, url)


@pytest.fixture
def sim_config() -> Callable[..., SimulatorConfig]:
    """Settings for a fast simulator (speed 100), with the changes given."""

    def make(**changes: Any) -> SimulatorConfig:
        return SimulatorConfig(**{**FAST, **changes})

    return make

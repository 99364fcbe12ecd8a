"""The provider simulator made fast for tests (speed 100: a 30-second ring takes 0.3 s of real
time), and a receiver of its signed callbacks on a real port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from dialer.adapters.telephony.inbound import RequestVerifier
from dialer.simulator.config import SimulatorConfig, config_from
from dialer.simulator.recorder import CallbackRecorder
from dialer.simulator.server import running_app

# The one set of fast settings; each caller adds its credentials, seed and what it tests.
FAST: dict[str, Any] = {
    "speed": 100.0,
    "setup_time": 0.5,
    "ring_min": 1.0,
    "ring_max": 3.0,
    "busy_ring": 1.0,
    "talk_mean": 5.0,
    "drop_after_max": 3.0,
    "callback_retry_delay": 1.0,
}

# The simulator's own tests speak Twilio with these credentials.
TOKEN = "test-token"
ACCOUNT_SID = "AC" + "ab" * 16


def fast_simulator(**changes: Any) -> SimulatorConfig:
    """Fast settings with the changes given (checked as the simulator checks its own)."""
    return config_from({**FAST, **changes})


def simulator_test_config(**changes: Any) -> SimulatorConfig:
    """What the simulator's and the Twilio adapter's tests run against."""
    return fast_simulator(**{"account_sid": ACCOUNT_SID, "auth_token": TOKEN, "seed": 7, **changes})


@dataclass
class Receiver:
    recorder: CallbackRecorder
    base_url: str

    def url(self, path: str = "/cb") -> str:
        return self.base_url + path


@asynccontextmanager
async def running_receiver(
    token: str = TOKEN, verifier: RequestVerifier | None = None
) -> AsyncIterator[Receiver]:
    """A signed-callback receiver listening on a loopback port."""
    recorder = CallbackRecorder(token, verifier=verifier)
    async with running_app(recorder.app) as url:
        yield Receiver(recorder, url)

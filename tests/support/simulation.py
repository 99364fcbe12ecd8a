"""The provider simulator made fast for tests (speed 100: a 30-second ring takes 0.3 s of real
time), and a receiver of its signed callbacks on a real port."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from dialer.adapters.telephony.inbound import RequestVerifier
from dialer.simulator.config import SimulatorConfig, config_from
from dialer.simulator.recorder import CallbackRecorder
from dialer.simulator.server import running_app, running_simulator

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


@asynccontextmanager
async def simulator_on_its_own_loop(config: SimulatorConfig) -> AsyncIterator[str]:
    """The simulator in a thread of its own, on an event loop of its own; yields its base URL.
    What it records (each call's start instant) is then not held up by the engine's event
    loop, as a provider's clock is not: a request is counted when it arrives."""
    started: Future[str] = Future()
    stopping: list[Callable[[], None]] = []

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        stopping.append(lambda: loop.call_soon_threadsafe(stop.set))
        try:
            async with running_simulator(config) as url:
                started.set_result(url)
                await stop.wait()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="simulator")
    thread.start()
    try:
        yield await asyncio.wrap_future(started)
    finally:
        for stop in stopping:
            stop()
        await asyncio.to_thread(thread.join, 30)

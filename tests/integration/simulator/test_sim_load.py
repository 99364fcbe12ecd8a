"""Hundreds of calls at once: every callback arrives, in order per call, nothing leaks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from dialer.adapters.telephony.twilio import TwilioTelephony
from dialer.ports import CallRequest
from dialer.simulator.config import SimulatorConfig
from dialer.simulator.server import running_simulator

if TYPE_CHECKING:
    from tests.support.simulation import Receiver

MakeConfig = Callable[..., SimulatorConfig]
CALLS = 400
TERMINAL = {"completed", "busy", "no-answer", "failed", "canceled"}


async def test_hundreds_of_concurrent_calls_with_all_their_callbacks(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(speed=200.0, cps=100_000.0, talk_mean=5.0)
    recorder = receiver.recorder
    started = time.perf_counter()
    async with running_simulator(config) as url:
        telephony = TwilioTelephony(url, config.account_sid, config.auth_token)
        gate = asyncio.Semaphore(50)

        async def dial(n: int) -> str:
            request = CallRequest(
                attempt_id=n,
                to=f"+1415{n:07d}",
                from_="+14155550100",
                status_callback_url=receiver.url(f"/cb?campaign=load&attempt={n}"),
                ring_timeout=30,
                time_limit=60,
            )
            async with gate:
                return await telephony.create_call(request)

        try:
            sids = await asyncio.gather(*(dial(n) for n in range(CALLS)))
            async with asyncio.timeout(30):
                await recorder.wait_until(
                    lambda got: sum(c.status in TERMINAL for c in got) == CALLS
                )
        finally:
            await telephony.aclose()
        async with httpx.AsyncClient() as client:
            stats = (await client.get(f"{url}/_sim/stats")).json()
    elapsed = time.perf_counter() - started

    assert len(set(sids)) == CALLS
    assert (stats["calls_created"], stats["active_now"], stats["callbacks_failed"]) == (CALLS, 0, 0)
    assert stats["peak_active_by_campaign"]["load"] == stats["peak_active"] <= CALLS
    assert stats["overlapping_calls_to_same_number"] == 0
    assert sum(stats["outcomes"].values()) == CALLS
    assert all(c.signature_valid for c in recorder.received)
    for sid in sids:
        sequence = [int(c.form["SequenceNumber"]) for c in recorder.for_call(sid)]
        assert sequence == list(range(len(sequence)))
    assert elapsed < 20, f"{CALLS} calls took {elapsed:.1f}s"

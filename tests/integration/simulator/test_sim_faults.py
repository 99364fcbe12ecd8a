"""Injected faults happen as configured (rate 1.0 makes them certain)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx

from dialer.simulator.config import Outcome, SimulatorConfig
from dialer.simulator.server import running_simulator

if TYPE_CHECKING:
    from tests.support.simulation import Receiver

MakeConfig = Callable[..., SimulatorConfig]
TO = "+14155550123"
EVERY_EVENT = ["initiated", "ringing", "answered", "completed"]


@contextlib.asynccontextmanager
async def simulator(config: SimulatorConfig) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    async with running_simulator(config) as url:
        auth = (config.account_sid, config.auth_token)
        async with httpx.AsyncClient(auth=auth) as client:
            yield url, client


async def create(url: str, client: httpx.AsyncClient, receiver: Receiver, account: str) -> str:
    form: dict[str, Any] = {
        "To": TO,
        "From": "+14155550100",
        "Url": "http://x/a",
        "StatusCallback": receiver.url("/cb?attempt=1"),
        "StatusCallbackEvent": EVERY_EVENT,
    }
    response = await client.post(f"{url}/2010-04-01/Accounts/{account}/Calls.json", data=form)
    assert response.status_code == 201
    sid: str = response.json()["sid"]
    return sid


async def settled_stats(url: str, client: httpx.AsyncClient, done: str, count: int) -> Any:
    """The stats once counter ``done`` reaches ``count`` (polled for up to 5 s)."""
    for _ in range(250):
        stats = (await client.get(f"{url}/_sim/stats")).json()
        if stats[done] >= count:
            return stats
        await asyncio.sleep(0.02)
    raise AssertionError(f"{done} never reached {count}: {stats}")


async def test_duplicated_callbacks_arrive_twice_in_order(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(duplicate_callback_rate=1.0, outcome_overrides={TO: Outcome.BUSY})
    async with simulator(config) as (url, client):
        sid = await create(url, client, receiver, config.account_sid)
        stats = await settled_stats(url, client, "callbacks_sent", 6)

    callbacks = receiver.recorder.for_call(sid)
    assert [c.status for c in callbacks] == ["initiated"] * 2 + ["ringing"] * 2 + ["busy"] * 2
    assert [c.form["SequenceNumber"] for c in callbacks] == ["0", "0", "1", "1", "2", "2"]
    assert all(c.signature_valid for c in callbacks)
    assert stats["callbacks_duplicated"] == 3


async def test_lost_callbacks_never_arrive_but_the_call_still_ends(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(lost_callback_rate=1.0, outcome_overrides={TO: Outcome.BUSY})
    async with simulator(config) as (url, client):
        sid = await create(url, client, receiver, config.account_sid)
        stats = await settled_stats(url, client, "callbacks_lost", 3)
        fetched = await client.get(
            f"{url}/2010-04-01/Accounts/{config.account_sid}/Calls/{sid}.json"
        )

    assert receiver.recorder.received == []
    assert stats["callbacks_sent"] == 0
    assert stats["outcomes"] == {"busy": 1}
    assert fetched.json()["status"] == "busy"  # a lost callback is resolved by a look-up


async def test_a_reordered_callback_arrives_after_the_next_one(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(reorder_rate=1.0, outcome_overrides={TO: Outcome.FAILED})
    async with simulator(config) as (url, client):
        sid = await create(url, client, receiver, config.account_sid)
        stats = await settled_stats(url, client, "callbacks_sent", 2)

    callbacks = receiver.recorder.for_call(sid)
    assert [c.status for c in callbacks] == ["failed", "initiated"]
    assert [c.form["SequenceNumber"] for c in callbacks] == ["1", "0"]
    assert stats["callbacks_reordered"] == 1


async def test_a_failing_receiver_gets_one_retry_then_the_failure_is_counted(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    receiver.recorder.status_code = 503
    config = sim_config(outcome_overrides={TO: Outcome.FAILED})
    async with simulator(config) as (url, client):
        sid = await create(url, client, receiver, config.account_sid)
        stats = await settled_stats(url, client, "callbacks_failed", 2)

    assert receiver.recorder.statuses(sid) == ["initiated", "initiated", "failed", "failed"]
    assert (stats["callbacks_retried"], stats["callbacks_sent"]) == (2, 0)


async def test_a_slow_answer_still_creates_the_call(sim_config: MakeConfig) -> None:
    config = sim_config(response_delay=30.0, outcome_overrides={TO: Outcome.FAILED})
    async with simulator(config) as (url, client):
        calls = f"{url}/2010-04-01/Accounts/{config.account_sid}/Calls.json"
        form = {"To": TO, "From": "+14155550100", "Url": "http://x/a"}
        started = asyncio.get_running_loop().time()
        response = await client.post(calls, data=form)
        waited = asyncio.get_running_loop().time() - started

    assert response.status_code == 201
    assert waited >= 0.3  # 30 simulated seconds at speed 100

"""The observer counts from the provider's side what the dialer's invariants promise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from dialer.simulator.config import Outcome, SimulatorConfig
from dialer.simulator.observer import Observer
from dialer.simulator.server import running_simulator

if TYPE_CHECKING:
    from tests.support.simulation import Receiver

MakeConfig = Callable[..., SimulatorConfig]
A, B, C = "+14155550001", "+14155550002", "+14155550003"
CALLER_1, CALLER_2 = "+14155550100", "+14155550200"


def test_peaks_overall_by_caller_id_and_by_campaign() -> None:
    observer = Observer()
    observer.call_started(A, CALLER_1, "http://d/cb?campaign=7&attempt=1", "7")
    observer.call_started(B, CALLER_1, "http://d/cb?campaign=7&attempt=2", "7")
    observer.call_started(C, CALLER_2, "http://d/cb?campaign=8&attempt=3", "8")
    observer.call_ended(A, CALLER_1, "7", "completed")
    observer.call_started(A, CALLER_2, "http://d/cb?campaign=8&attempt=4", "8")

    stats = observer.snapshot()

    assert (stats["active_now"], stats["peak_active"]) == (3, 3)
    assert stats["peak_active_by_caller_id"] == {CALLER_1: 2, CALLER_2: 2}
    assert stats["peak_active_by_campaign"] == {"7": 2, "8": 2}
    assert stats["overlapping_calls_to_same_number"] == 0  # A's first call had ended
    assert stats["calls_per_number"] == {A: 2, B: 1, C: 1}
    assert stats["max_calls_per_number"] == 2
    assert stats["outcomes"] == {"completed": 1}


def test_a_second_live_call_to_a_number_is_an_overlap() -> None:
    observer = Observer()
    observer.call_started(A, CALLER_1, "http://d/cb?attempt=1", None)
    observer.call_started(A, CALLER_2, "http://d/cb?attempt=2", None)
    observer.call_started(A, CALLER_1, "http://d/cb?attempt=3", None)
    observer.call_started(B, CALLER_1, "http://d/cb?attempt=4", None)

    stats = observer.snapshot()

    assert stats["overlapping_calls_to_same_number"] == 2
    assert stats["overlapping_numbers"] == [A]


def test_the_same_status_callback_url_twice_is_a_repeated_origination() -> None:
    observer = Observer()
    observer.call_started(A, CALLER_1, "http://d/cb?attempt=1", None)
    observer.call_ended(A, CALLER_1, None, "failed")
    observer.call_started(A, CALLER_1, "http://d/cb?attempt=1", None)
    observer.call_started(B, CALLER_1, None, None)  # no callback URL: nothing to compare
    observer.call_started(C, CALLER_1, None, None)

    stats = observer.snapshot()

    assert stats["repeated_originations"] == 1
    assert stats["repeated_origination_urls"] == ["http://d/cb?attempt=1"]


def test_reset_starts_a_window_but_live_calls_stay_counted_until_they_end() -> None:
    observer = Observer()
    for number in (A, B, C):
        observer.call_started(number, CALLER_1, f"http://d/{number}", "7")
    observer.call_ended(C, CALLER_1, "7", "busy")

    observer.reset()
    reset = observer.snapshot()
    observer.call_ended(A, CALLER_1, "7", "completed")
    observer.call_started(B, CALLER_1, f"http://d/{B}", "7")  # overlaps the live call to B
    after = observer.snapshot()

    assert (reset["calls_created"], reset["active_now"], reset["peak_active"]) == (0, 2, 2)
    assert reset["peak_active_by_caller_id"] == {CALLER_1: 2}
    assert reset["outcomes"] == {}
    assert (after["active_now"], after["peak_active"]) == (2, 2)
    assert after["overlapping_calls_to_same_number"] == 1
    assert after["repeated_originations"] == 0  # the URL was seen before the reset only
    assert after["outcomes"] == {"completed": 1}


async def test_over_http_concurrent_calls_to_one_number_and_a_repeated_attempt_are_seen(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(outcome_overrides={A: Outcome.ANSWER, B: Outcome.ANSWER}, talk_mean=1e9)
    async with running_simulator(config) as url:
        calls = f"{url}/2010-04-01/Accounts/{config.account_sid}/Calls.json"
        auth = (config.account_sid, config.auth_token)
        async with httpx.AsyncClient(auth=auth) as client:

            async def create(to: str, attempt: int, campaign: str) -> httpx.Response:
                callback = receiver.url(f"/cb?campaign={campaign}&attempt={attempt}")
                form: dict[str, Any] = {"To": to, "From": CALLER_1, "Url": "http://x/a"}
                return await client.post(calls, data={**form, "StatusCallback": callback})

            created = await asyncio.gather(create(A, 1, "c1"), create(A, 2, "c1"))
            await create(B, 3, "c2")
            await create(B, 3, "c2")  # the same attempt dialled again
            stats = (await client.get(f"{url}/_sim/stats")).json()
            reset = (await client.post(f"{url}/_sim/reset")).json()

    assert [r.status_code for r in created] == [201, 201]
    assert stats["calls_created"] == 4
    assert stats["overlapping_calls_to_same_number"] == 2
    assert stats["overlapping_numbers"] == [A, B]
    assert stats["repeated_originations"] == 1
    assert stats["repeated_origination_urls"] == [receiver.url("/cb?campaign=c2&attempt=3")]
    assert (stats["active_now"], stats["peak_active"]) == (4, 4)
    assert stats["peak_active_by_caller_id"] == {CALLER_1: 4}
    assert stats["peak_active_by_campaign"] == {"c1": 2, "c2": 2}
    assert stats["calls_per_number"] == {A: 2, B: 2}
    assert (reset["calls_created"], reset["active_now"]) == (0, 4)


async def test_active_ends_with_the_terminal_status_and_outcomes_are_counted(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    overrides = {A: Outcome.BUSY, B: Outcome.FAILED, C: Outcome.ANSWER}
    config = sim_config(outcome_overrides=overrides, talk_mean=1.0)
    async with running_simulator(config) as url:
        calls = f"{url}/2010-04-01/Accounts/{config.account_sid}/Calls.json"
        auth = (config.account_sid, config.auth_token)
        async with httpx.AsyncClient(auth=auth) as client:
            for number in (A, B, C):
                form = {"To": number, "From": CALLER_1, "Url": "http://x/a"}
                await client.post(calls, data={**form, "StatusCallback": receiver.url()})
            async with asyncio.timeout(5):
                await receiver.recorder.wait_until(lambda got: len(got) == 3)
            stats = (await client.get(f"{url}/_sim/stats")).json()

    assert stats["active_now"] == 0
    assert stats["peak_active"] == 3
    assert stats["outcomes"] == {"busy": 1, "failed": 1, "completed": 1}
    statuses = sorted(c.status for c in receiver.recorder.received)
    assert statuses == ["busy", "completed", "failed"]  # only the ends: Twilio's default

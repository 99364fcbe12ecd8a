"""The simulator prices calls as Twilio does: each started minute of a connected call, shown on
the Call resource as a debit ("-0.02600", in price_unit) only ``price_delay`` after the call
ended; a call nobody answered costs nothing."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from dialer.simulator.config import Outcome, SimulatorConfig
from tests.integration.simulator.test_sim_http import FROM, TO, api, create_form, root
from tests.support.polling import until

if TYPE_CHECKING:
    from tests.support.simulation import Receiver

MakeConfig = Callable[..., SimulatorConfig]
OTHER = "+14155550124"


async def resource(client: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    found = await client.get(f"Calls/{sid}.json")
    assert found.status_code == 200, found.text
    return dict(found.json())


async def until_priced(client: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    async def priced() -> bool:
        return (await resource(client, sid))["price"] is not None

    await until(priced, 5, f"call {sid} priced", every=0.02)
    return await resource(client, sid)


async def test_a_connected_calls_price_shows_after_the_delay_per_started_minute(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(
        outcome_overrides={TO: Outcome.ANSWER},
        talk_mean=1e9,
        price_per_minute=0.013,
        price_delay=100.0,  # one real second
    )
    async with api(config) as client:
        sid = (await client.post("Calls.json", data=create_form(receiver))).json()["sid"]
        async with asyncio.timeout(5):
            await receiver.recorder.wait_for_status(sid, "in-progress")
        await asyncio.sleep(0.7)  # 70 simulated seconds of talk: two started minutes
        await client.post(f"Calls/{sid}.json", data={"Status": "completed"})
        ended = await resource(client, sid)
        priced = await until_priced(client, sid)

    assert ended["status"] == "completed"
    assert (ended["price"], ended["price_unit"]) == (None, "USD")
    duration = int(priced["duration"])
    assert duration > 60
    assert priced["price"] == f"-{math.ceil(duration / 60) * Decimal('0.013'):.5f}"
    assert priced["price_unit"] == "USD"


async def test_an_unanswered_call_costs_nothing_and_the_delay_is_read_when_asked(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(
        outcome_overrides={TO: Outcome.BUSY, OTHER: Outcome.NO_ANSWER},
        price_delay=1e6,
        price_unit="EUR",
    )
    async with api(config) as client:
        busy = (await client.post("Calls.json", data=create_form(receiver))).json()["sid"]
        missed = (
            await client.post("Calls.json", data=create_form(receiver, To=OTHER, Timeout="2"))
        ).json()["sid"]
        async with asyncio.timeout(5):
            await receiver.recorder.wait_for_status(busy, "busy")
            await receiver.recorder.wait_for_status(missed, "no-answer")
        before = [await resource(client, sid) for sid in (busy, missed)]
        await client.post(root(client, "/_sim/config"), json={"price_delay": 0})
        after = [await resource(client, sid) for sid in (busy, missed)]
        listed = (await client.get("Calls.json", params={"From": FROM})).json()["calls"]

    assert [c["price"] for c in before] == [None, None]
    assert [(c["price"], c["price_unit"]) for c in after] == [("0.00000", "EUR")] * 2
    assert {c["sid"]: c["price"] for c in listed} == {busy: "0.00000", missed: "0.00000"}


async def test_bad_price_settings_are_refused(sim_config: MakeConfig) -> None:
    async with api(sim_config()) as client:
        bad = await client.post(
            root(client, "/_sim/config"),
            json={"price_per_minute": -1, "price_unit": "usd", "price_delay": -5},
        )
        shown = (await client.get(root(client, "/_sim/config"))).json()

    assert bad.status_code == 400
    locations = {p["location"] for p in bad.json()["problems"]}
    assert locations == {"price_per_minute", "price_unit", "price_delay"}
    assert (shown["price_per_minute"], shown["price_unit"], shown["price_delay"]) == (
        0.013,
        "USD",
        30.0,
    )

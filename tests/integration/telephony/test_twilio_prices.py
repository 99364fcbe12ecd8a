"""TwilioTelephony.call_price against the simulator over HTTP: nothing until Twilio has priced
the call, then exactly the price on its Call resource, as an amount charged."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

import httpx

from dialer.adapters.telephony.twilio import TwilioTelephony
from dialer.ports import CallPrice
from dialer.simulator.config import Outcome, SimulatorConfig
from dialer.simulator.server import running_simulator
from tests.integration.telephony.test_twilio_adapter import TO, call_request, provider, until_status

if TYPE_CHECKING:
    from tests.support.simulation import Receiver

MakeConfig = Callable[..., SimulatorConfig]


async def test_the_price_is_none_until_twilio_has_priced_the_call(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(outcome_overrides={TO: Outcome.ANSWER}, price_delay=1e6)
    auth = (config.account_sid, config.auth_token)
    async with (
        running_simulator(config) as url,
        httpx.AsyncClient(base_url=url, auth=auth) as sim,
    ):
        twilio = TwilioTelephony(url, *auth)
        sid = await twilio.create_call(call_request(receiver, time_limit=90))
        await until_status(receiver, sid, {"completed"})
        before = await twilio.call_price(sid)
        await sim.post("/_sim/config", json={"price_delay": 0})  # Twilio has priced it now
        shown = await sim.get(f"/2010-04-01/Accounts/{config.account_sid}/Calls/{sid}.json")
        after = await twilio.call_price(sid)
        await twilio.aclose()

    assert before is None
    debit = shown.json()["price"]
    assert debit.startswith("-")
    assert after == CallPrice(-Decimal(debit), "USD")
    assert after.amount > 0


async def test_a_call_nobody_answered_costs_nothing_at_once(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(outcome_overrides={TO: Outcome.BUSY}, price_delay=1e6)
    async with provider(config) as twilio:
        sid = await twilio.create_call(call_request(receiver))
        await until_status(receiver, sid, {"busy"})
        price = await twilio.call_price(sid)

    assert price == CallPrice(Decimal(0), "USD")

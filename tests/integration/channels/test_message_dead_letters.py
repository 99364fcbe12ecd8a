"""A message the provider cannot take (down, refusing connections) is tried again a few
times, then fails into the dead-letter queue with its cause; replayed, it is sent once."""

from __future__ import annotations

import asyncio
import socket

from dialer.adapters.messaging.twilio_sms import TwilioSms
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import CampaignStatus
from dialer.runner import run_to_end
from dialer.services.dlq import list_dead_letters, replay
from dialer.services.message_sending import MAX_SEND_TRIES
from tests.integration.channels.test_sms_rules import DELIVERED, FALLBACK
from tests.integration.channels.test_sms_steps import contacts, message_rows
from tests.support.engine import SID, TOKEN, EngineFactory, settings, sim_config
from tests.support.webhook_receiver import (
    RECEIVING,
    deliver_until,
    running_receiver,
    subscribe_receiver,
)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the probe is closed


async def test_an_unsendable_message_is_dead_lettered_then_replayed_once(
    engine: EngineFactory,
) -> None:
    number = "+12125550801"
    sim = sim_config(outcome_mix={"no_answer": 1.0}, sms_outcome_mix=DELIVERED)
    async with engine(sim=sim) as e:
        services = e.runtime.services
        working = services.sms
        services.sms = TwilioSms(f"http://127.0.0.1:{closed_port()}", SID, TOKEN)
        campaign = await e.campaign(
            settings(retry=RetryPolicy(1), steps=(FALLBACK,)), contacts([number])
        )
        final = await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
        [failed] = await message_rows(e, campaign.id)
        [letter] = await list_dead_letters(e.store, campaign.tenant_id)
        before = (await e.stats())["sms"]["messages_accepted"]
        await services.sms.aclose()
        services.sms = working  # the provider is back
        await replay(services, letter.id, campaign.tenant_id)
        for _ in range(2000):  # a completed campaign's messages are looked for every 5 s
            await e.runtime.dispatcher.run_once()
            [row] = await message_rows(e, campaign.id)
            if row["status"] == "DELIVERED":
                break
            await asyncio.sleep(0.01)
        stats = (await e.stats())["sms"]
    assert final.status is CampaignStatus.COMPLETED  # a failed message does not hold it up
    assert failed["status"] == "FAILED"
    assert failed["tries"] == MAX_SEND_TRIES
    assert failed["error"].startswith(f"not sent after {MAX_SEND_TRIES} tries: ")
    assert letter.kind == "message"
    assert letter.payload == {"message_id": failed["id"], "channel": "sms"}
    assert before == 0
    assert row["status"] == "DELIVERED"
    assert stats["messages_accepted"] == 1  # sent once, after the replay
    assert [m["to"] for m in stats["messages"]] == [number]


async def test_a_messages_dead_letter_is_reported_to_the_tenants_endpoint(
    engine: EngineFactory,
) -> None:
    number = "+12125550802"
    sim = sim_config(outcome_mix={"no_answer": 1.0}, sms_outcome_mix=DELIVERED)
    async with (
        running_receiver() as receiver,
        engine(sim=sim, **RECEIVING) as e,
    ):
        services = e.runtime.services
        services.sms = TwilioSms(f"http://127.0.0.1:{closed_port()}", SID, TOKEN)
        campaign = await e.campaign(
            settings(retry=RetryPolicy(1), steps=(FALLBACK,)), contacts([number])
        )
        await subscribe_receiver(services, campaign.tenant_id, receiver, ["dead_letter.created"])
        await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
        [failed] = await message_rows(e, campaign.id)

        def reported() -> bool:
            return bool(receiver.delivered())

        await deliver_until(e.runtime, reported, "the dead letter reported")
    [event] = receiver.delivered()
    assert event["type"] == "dead_letter.created"
    assert event["data"]["kind"] == "message"
    assert event["data"]["key"] == f"message:{failed['id']}"
    assert event["data"]["attempts"] == MAX_SEND_TRIES
    assert receiver.refused == []

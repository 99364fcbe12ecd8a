"""The store contract for messages of SMS and email steps, the same on SQLite, PostgreSQL and
in memory: one message per step of a lead, claims of due messages of running campaigns only,
provider events recorded once, settling, and per-channel opt-outs kept per tenant."""

from __future__ import annotations

from datetime import timedelta

from dialer.adapters.clock import ManualClock
from dialer.domain.channels import Channel
from dialer.domain.messages import NewMessage
from dialer.domain.model import Campaign
from dialer.domain.statuses import CampaignStatus, MessageStatus
from dialer.ports import Store
from tests.contract.test_store_repositories import NY, draft, with_leads


def new_message(campaign: Campaign, lead_id: int, step: int, clock: ManualClock) -> NewMessage:
    return NewMessage(
        tenant_id=campaign.tenant_id,
        campaign_id=campaign.id,
        lead_id=lead_id,
        step=step,
        channel=Channel.SMS,
        to="+12125550001",
        sender="+14155550100",
        due_at=clock.now(),
        zone_key=NY,
        outcomes=("no_answer",),
        token=f"token-{lead_id}-{step}",
    )


async def running_campaign_with_lead(store: Store, clock: ManualClock) -> tuple[Campaign, int]:
    campaign = await with_leads(store, clock, [draft(1)])
    async with store.unit() as uow:
        fresh = await uow.campaigns.get(campaign.id)
        fresh.move_to(CampaignStatus.RUNNING)
        await uow.campaigns.save_status(fresh, clock.now())
        [lead] = await uow.leads.claim_due(campaign.id, [NY], clock.now(), 1)
        await uow.commit()
    return fresh, lead.id


async def test_one_message_per_step_of_a_lead(store: Store, clock: ManualClock) -> None:
    campaign, lead_id = await running_campaign_with_lead(store, clock)
    async with store.unit() as uow:
        assert await uow.messages.add([new_message(campaign, lead_id, 1, clock)], clock.now()) == 1
        await uow.commit()
    async with store.unit() as uow:  # the same step decided again (after a crash): nothing new
        assert await uow.messages.add([new_message(campaign, lead_id, 1, clock)], clock.now()) == 0
        assert await uow.messages.add([new_message(campaign, lead_id, 2, clock)], clock.now()) == 1
        await uow.commit()
    async with store.unit() as uow:
        found = await uow.messages.for_lead(lead_id)
    assert [(m.step, m.status, m.outcomes, m.token) for m in found] == [
        (1, MessageStatus.PENDING, ("no_answer",), f"token-{lead_id}-1"),
        (2, MessageStatus.PENDING, ("no_answer",), f"token-{lead_id}-2"),
    ]


async def test_claims_take_due_messages_of_running_campaigns(
    store: Store, clock: ManualClock
) -> None:
    campaign, lead_id = await running_campaign_with_lead(store, clock)
    later = new_message(campaign, lead_id, 2, clock)
    async with store.unit() as uow:
        await uow.messages.add([new_message(campaign, lead_id, 1, clock)], clock.now())
        await uow.messages.add(
            [NewMessage(**{**later.__dict__, "due_at": clock.now() + timedelta(hours=1)})],
            clock.now(),
        )
        await uow.commit()
    async with store.unit() as uow:
        assert [m.step for m in await uow.messages.claim_due(clock.now(), 10)] == [1]
        paused = await uow.campaigns.get(campaign.id)
        paused.move_to(CampaignStatus.PAUSED)
        await uow.campaigns.save_status(paused, clock.now())
        await uow.commit()
    async with store.unit() as uow:
        assert await uow.messages.claim_due(clock.now() + timedelta(hours=2), 10) == []


async def test_events_are_recorded_once_and_messages_settle(
    store: Store, clock: ManualClock
) -> None:
    campaign, lead_id = await running_campaign_with_lead(store, clock)
    async with store.unit() as uow:
        await uow.messages.add([new_message(campaign, lead_id, 1, clock)], clock.now())
        [message] = await uow.messages.claim_due(clock.now(), 1)
        message.move_to(MessageStatus.SENDING)
        message.sent_at = clock.now()
        await uow.messages.save(message)
        await uow.commit()
    async with store.unit() as uow:
        assert await uow.messages.open_in_campaign(campaign.id) == 1
        assert await uow.messages.to_settle(clock.now(), clock.now(), 10) == []  # in flight
        message.provider_message_id = "SM" + "a" * 32
        message.move_to(MessageStatus.DELIVERED)
        await uow.messages.save(message)
        assert await uow.messages.record_event(
            message.id, "delivered:-", "delivered", clock.now(), {}
        )
        assert not await uow.messages.record_event(
            message.id, "delivered:-", "delivered", clock.now(), {}
        )
        await uow.commit()
    async with store.unit() as uow:
        found = await uow.messages.by_provider_id("SM" + "a" * 32)
        assert found is not None
        assert found.status is MessageStatus.DELIVERED
        [over] = await uow.messages.to_settle(clock.now(), clock.now() - timedelta(hours=1), 10)
        over.settled_at = clock.now()
        await uow.messages.save(over)
        await uow.commit()
    async with store.unit() as uow:
        assert await uow.messages.open_in_campaign(campaign.id) == 0
        assert await uow.messages.counts(campaign.id) == {(Channel.SMS, MessageStatus.DELIVERED): 1}


async def test_opt_outs_are_per_tenant_and_channel(store: Store, clock: ManualClock) -> None:
    number = "+12125550001"
    async with store.unit() as uow:
        assert await uow.messages.opt_out(1, Channel.SMS, number, "replied STOP", clock.now())
        assert not await uow.messages.opt_out(1, Channel.SMS, number, "again", clock.now())
        await uow.commit()
    async with store.unit() as uow:
        assert await uow.messages.opted_out(1, Channel.SMS, [number, "+12125550002"]) == {number}
        assert await uow.messages.opted_out(2, Channel.SMS, [number]) == set()
        assert await uow.messages.opted_out(1, Channel.EMAIL, [number]) == set()
        assert await uow.messages.opt_in(1, Channel.SMS, number)
        await uow.commit()
    async with store.unit() as uow:
        assert await uow.messages.opted_out(1, Channel.SMS, [number]) == set()

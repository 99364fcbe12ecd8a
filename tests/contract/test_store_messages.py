"""The store contract for messages of SMS and email steps, the same on SQLite, PostgreSQL and
in memory: one message per step of a lead, claims of due messages of running campaigns only,
provider events recorded once, settling, and per-channel opt-outs kept per tenant."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from dialer.adapters.clock import ManualClock
from dialer.domain.channels import Channel
from dialer.domain.messages import NewMessage
from dialer.domain.model import Campaign
from dialer.domain.statuses import CampaignStatus, MessageStatus
from dialer.ports import Store
from dialer.ports.message_store import Lease, MessageQuery, NewMessageEvent
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


async def test_a_claimed_message_is_sent_only_under_its_lease(
    store: Store, clock: ManualClock
) -> None:
    """The claim leases a message (its due_at moved on, still PENDING); the sent marker is
    committed only while that lease holds, so a message claimed again after its lease ran out
    (its first claimant dead, or late) is started by one claimant only."""
    campaign, lead_id = await running_campaign_with_lead(store, clock)
    lease = timedelta(seconds=20)
    async with store.unit() as uow:
        await uow.messages.add([new_message(campaign, lead_id, 1, clock)], clock.now())
        [message] = await uow.messages.claim_due(clock.now(), 1)
        first_lease = clock.now() + lease
        message.due_at = first_lease
        await uow.messages.save(message)
        await uow.commit()
    clock.advance(lease.total_seconds())
    async with store.unit() as uow:  # the lease ran out: claimed again, leased anew
        [again] = await uow.messages.claim_due(clock.now(), 1)
        second_lease = clock.now() + lease + timedelta(seconds=1)
        again.due_at = second_lease
        await uow.messages.save(again)
        await uow.commit()
    first, second = Lease(message.id, first_lease), Lease(message.id, second_lease)
    async with store.unit() as uow:
        assert await uow.messages.start_sending([first], clock.now()) == set()
        assert not await uow.messages.release(message.id, first_lease, clock.now())
        assert await uow.messages.release(message.id, second_lease, second_lease)
        assert await uow.messages.start_sending([first, second], clock.now()) == {message.id}
        assert await uow.messages.start_sending([second], clock.now()) == set()
        await uow.commit()
    async with store.unit() as uow:
        stored = await uow.messages.get(message.id)
    assert stored is not None
    assert (stored.status, stored.sent_at) == (MessageStatus.SENDING, clock.now())


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
        delivered = NewMessageEvent(message.id, "delivered:-", "delivered", {"x": "1"})
        sent = NewMessageEvent(message.id, "sent:-", "sent", {})
        # A repeat within one batch, and across batches, is recorded once.
        assert await uow.messages.record_events([delivered, sent, delivered], clock.now()) == {
            (message.id, "delivered:-"),
            (message.id, "sent:-"),
        }
        assert await uow.messages.record_events([delivered], clock.now()) == set()
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


# ---------------------------------------------------------------- what operators read


def email_message(campaign: Campaign, lead_id: int, step: int, clock: ManualClock) -> NewMessage:
    sms = new_message(campaign, lead_id, step, clock)
    return replace(sms, channel=Channel.EMAIL, to="ada@example.com", sender="a@acme.example")


async def with_messages(store: Store, clock: ManualClock) -> tuple[Campaign, list[int]]:
    """A running campaign whose one lead has an SMS (step 1, later DELIVERED), an email
    (step 2) and another SMS due in an hour (step 3); the contact's email is Ada's."""
    campaign = await with_leads(
        store, clock, [replace(draft(1), attributes={"email": "ada@example.com"})]
    )
    async with store.unit() as uow:
        fresh = await uow.campaigns.get(campaign.id)
        fresh.move_to(CampaignStatus.RUNNING)
        await uow.campaigns.save_status(fresh, clock.now())
        [lead] = await uow.leads.claim_due(campaign.id, [NY], clock.now(), 1)
        later = replace(
            new_message(fresh, lead.id, 3, clock), due_at=clock.now() + timedelta(hours=1)
        )
        drafts = [
            new_message(fresh, lead.id, 1, clock),
            email_message(fresh, lead.id, 2, clock),
            later,
        ]
        await uow.messages.add(drafts, clock.now())
        [first, *_] = await uow.messages.for_lead(lead.id)
        first.move_to(MessageStatus.SENDING)
        first.move_to(MessageStatus.DELIVERED)
        await uow.messages.save(first)
        await uow.commit()
        ids = [m.id for m in await uow.messages.for_lead(lead.id)]
    return fresh, ids


async def test_a_campaigns_messages_are_paged_and_filtered(
    store: Store, clock: ManualClock
) -> None:
    campaign, ids = await with_messages(store, clock)
    async with store.unit() as uow:
        first = await uow.messages.find(MessageQuery(campaign.id, limit=2))
        rest = await uow.messages.find(MessageQuery(campaign.id, after_id=first[-1].id))
        sms = await uow.messages.find(MessageQuery(campaign.id, channels=(Channel.SMS,)))
        pending = await uow.messages.find(
            MessageQuery(campaign.id, statuses=(MessageStatus.PENDING,))
        )
        elsewhere = await uow.messages.find(MessageQuery(campaign.id + 1))
    assert [m.id for m in first + rest] == ids
    assert [m.step for m in sms] == [1, 3]
    assert [m.step for m in pending] == [2, 3]
    assert elsewhere == []


async def test_a_contacts_messages_are_those_to_its_number_and_email(
    store: Store, clock: ManualClock
) -> None:
    campaign, _ = await with_messages(store, clock)
    async with store.unit() as uow:
        found = await uow.messages.for_contact(campaign.tenant_id, "+12125550001", 10)
        newest = await uow.messages.for_contact(campaign.tenant_id, "+12125550001", 1)
        other_tenant = await uow.messages.for_contact(campaign.tenant_id + 1, "+12125550001", 10)
        stranger = await uow.messages.for_contact(campaign.tenant_id, "+12125550002", 10)
    assert [(m.step, m.channel, name) for m, name in found] == [
        (3, Channel.SMS, "c"),
        (2, Channel.EMAIL, "c"),
        (1, Channel.SMS, "c"),
    ]
    assert [m.step for m, _ in newest] == [3]
    assert other_tenant == stranger == []


async def test_message_figures_by_channel_and_status(store: Store, clock: ManualClock) -> None:
    campaign, _ = await with_messages(store, clock)
    async with store.unit() as uow:
        later = await uow.messages.due_later(campaign.id, clock.now())
        everyone = await uow.messages.totals()
        mine = await uow.messages.totals(campaign.tenant_id)
        nobody = await uow.messages.totals(campaign.tenant_id + 1)
    assert later == {Channel.SMS: 1}
    assert (
        everyone
        == mine
        == {
            (Channel.SMS, MessageStatus.DELIVERED): 1,
            (Channel.SMS, MessageStatus.PENDING): 1,
            (Channel.EMAIL, MessageStatus.PENDING): 1,
        }
    )
    assert nobody == {}


async def test_opt_outs_are_listed_per_tenant_and_channel(store: Store, clock: ManualClock) -> None:
    numbers = [f"+1212555000{n}" for n in range(1, 4)]
    async with store.unit() as uow:
        for number in numbers:
            await uow.messages.opt_out(1, Channel.SMS, number, "replied STOP", clock.now())
        await uow.messages.opt_out(1, Channel.EMAIL, "ada@example.com", "unsubscribed", clock.now())
        await uow.messages.opt_out(2, Channel.SMS, numbers[0], "theirs", clock.now())
        await uow.commit()
    async with store.unit() as uow:
        first = await uow.messages.opt_outs(1, Channel.SMS, 0, 2)
        rest = await uow.messages.opt_outs(1, Channel.SMS, first[-1].id, 2)
        emails = await uow.messages.opt_outs(1, Channel.EMAIL, 0, 10)
        assert await uow.messages.opt_out_counts(1) == {Channel.SMS: 3, Channel.EMAIL: 1}
        assert await uow.messages.opt_out_counts(3) == {}
        assert await uow.messages.opt_in(1, Channel.SMS, numbers[1])
        await uow.commit()
    assert [e.address for e in first + rest] == numbers
    assert (first[0].channel, first[0].reason, first[0].created_at) == (
        Channel.SMS,
        "replied STOP",
        clock.now(),
    )
    assert [(e.address, e.reason) for e in emails] == [("ada@example.com", "unsubscribed")]
    async with store.unit() as uow:
        left = await uow.messages.opt_outs(1, Channel.SMS, 0, 10)
        assert await uow.messages.opt_out_counts(1) == {Channel.SMS: 2, Channel.EMAIL: 1}
    assert [e.address for e in left] == [numbers[0], numbers[2]]


async def test_messages_are_read_and_saved_many_at_once(store: Store, clock: ManualClock) -> None:
    campaign, lead_id = await running_campaign_with_lead(store, clock)
    async with store.unit() as uow:
        await uow.messages.add(
            [new_message(campaign, lead_id, step, clock) for step in (1, 2, 3)], clock.now()
        )
        claimed = await uow.messages.claim_due(clock.now(), 10)
        for message in claimed:
            message.due_at = clock.now() + timedelta(minutes=message.step)
            message.error = f"step {message.step}"
        await uow.messages.save_many(claimed)
        await uow.commit()
    ids = {m.id for m in claimed}
    async with store.unit() as uow:
        found = await uow.messages.get_many(ids | {10_000}, lock=True)
        lead = await uow.leads.get(lead_id)
        contacts = await uow.contacts.get_many({lead.contact_id, 10_000})
    assert set(found) == ids
    assert sorted((m.step, m.due_at, m.error) for m in found.values()) == [
        (step, clock.now() + timedelta(minutes=step), f"step {step}") for step in (1, 2, 3)
    ]
    assert list(contacts) == [lead.contact_id]
    assert contacts[lead.contact_id].phone == lead.phone


async def test_email_opt_outs_ignore_the_case_of_the_address(
    store: Store, clock: ManualClock
) -> None:
    async with store.unit() as uow:
        assert await uow.messages.opt_out(1, Channel.EMAIL, "Ada@Example.com", "link", clock.now())
        assert not await uow.messages.opt_out(
            1, Channel.EMAIL, "ada@example.COM", "again", clock.now()
        )
        assert await uow.messages.opted_out(
            1, Channel.EMAIL, ["ADA@example.com", "bob@example.com"]
        ) == {"ADA@example.com"}
        await uow.commit()
    async with store.unit() as uow:
        assert await uow.messages.opt_in(1, Channel.EMAIL, "ada@EXAMPLE.com")
        assert await uow.messages.opted_out(1, Channel.EMAIL, ["Ada@Example.com"]) == set()
        await uow.commit()

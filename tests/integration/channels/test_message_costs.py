"""Every message the provider takes is charged once, by the rate card of its sender in force
when it was created, on SQLite and PostgreSQL: an SMS per segment at the price of the longest
prefix of its number, an email its card's one price. The segments are the provider's count:
the simulator's own record of each SMS is the reference. A message no card covers is not
charged, and counted as unpriced."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from dialer import metrics
from dialer.domain.channels import Channel, MessageStep
from dialer.domain.costs import CostChannel, Price, RateCard
from dialer.domain.model import Campaign
from dialer.domain.phone import zone_key
from dialer.domain.retry import RetryPolicy
from dialer.domain.sms import segments
from dialer.domain.statuses import CampaignStatus
from dialer.errors import ProviderOutcomeUnknown
from dialer.ports import ContactDraft
from dialer.ports.cost_store import CostQuery, NewCharge
from dialer.ports.messaging import MessageAccepted, SmsRequest, SmsSender
from dialer.runner import run_to_end
from dialer.services import costs
from dialer.services.costs import Pricing
from dialer.simulator.config import SimulatorConfig, SmsOutcome
from dialer.simulator.smtp_sink import running_smtp_sink
from tests.integration.channels.test_email_steps import SINK
from tests.integration.channels.test_sms_steps import message_rows
from tests.support.engine import NY, SID, TOKEN, Engine, EngineFactory, settings, sim_config

SHORT_CODE = "12345"  # 90 a second: the messages are not held up by a long code's 1 a second
NYC_555, NYC, CHICAGO = "1212555", "1212", "1"  # prefixes, longest first
SMS_CARD = RateCard(
    "twilio",
    CostChannel.SMS,
    "USD",
    (
        Price("1", per_segment=Decimal("0.0100")),
        Price("1212", per_segment=Decimal("0.0079")),
        Price("1212555", per_segment=Decimal("0.0061")),
    ),
)
EMAIL_CARD = RateCard(
    "smtp", CostChannel.EMAIL, "USD", (Price("", per_message=Decimal("0.00095")),)
)

# Bodies and the segments a carrier bills them as.
ONE = "We missed you today. Reply STOP to opt out."  # GSM-7, one segment
REMINDER = (
    "Your appointment with Acme Dental is confirmed for Friday at 10:30. Please arrive ten "
    "minutes early and bring your insurance card. Reply C to cancel or R to reschedule it."
)
TWO = REMINDER  # GSM-7, 171 characters: 153 + 18
FOUR = " ".join([REMINDER] * 3)  # GSM-7, 515 characters: 4 segments of 153
# 158 characters but 164 septets: €, [, ], {, }, ~ take two each, so it does not fit in one.
EXTENDED = (
    "Invoice €120 [ref {A-1234}] is due on Friday. Pay it online at acme.example/pay, by "
    "phone on 0800 123 456, or at any of our shops before the end of the month~"
)
# The emoji make it UCS-2: 159 UTF-16 units (each emoji takes two), 3 segments of 67.
EMOJI = (
    "Your parcel is on its way 🚚 and arrives tomorrow between 9 and 12. Track it in the "
    "app, change the day or leave it with a neighbour. Reply HELP for support 📦"
)
# number -> (its body, the longest prefix of the card it matches, the segments it takes)
SMS_TO: dict[str, tuple[str, str, int]] = {
    "+12125550301": (FOUR, NYC_555, 4),
    "+12125550302": (ONE, NYC_555, 1),
    "+12127770303": (EMOJI, NYC, 3),
    "+12127770304": (TWO, NYC, 2),
    "+13125550305": (EXTENDED, CHICAGO, 2),
}
NOTED = MessageStep(Channel.SMS, "{{ note }}", when=frozenset({"no_answer"}), sender=SHORT_CODE)
MAILED = MessageStep(
    Channel.EMAIL,
    "Hello {{ name }}, we tried to call you.",
    when=frozenset({"no_answer"}),
    sender="Acme Reminders <reminders@acme.example>",
    subject="We tried to reach you, {{ name }}",
)


def unanswered() -> SimulatorConfig:
    """Every call unanswered, every SMS delivered, a short code's 100 a second."""
    return sim_config(
        outcome_mix={"no_answer": 1.0}, sms_outcome_mix={SmsOutcome.DELIVERED: 1.0}, sms_mps=100.0
    )


def noted(numbers: dict[str, tuple[str, str, int]], email: bool = False) -> list[ContactDraft]:
    """A contact per number, its body as its note; with an email address too if ``email``."""
    zone = zone_key((NY,))
    return [
        ContactDraft(
            number,
            zone,
            name=f"c{number[-3:]}",
            attributes={
                "note": body,
                **({"email": f"c{number[-3:]}@example.com"} if email else {}),
            },
        )
        for number, (body, _, _) in numbers.items()
    ]


def mailed(count: int) -> list[ContactDraft]:
    zone = zone_key((NY,))
    return [
        ContactDraft(
            f"+1212555{n:04d}", zone, name=f"m{n}", attributes={"email": f"m{n}@example.com"}
        )
        for n in range(500, 500 + count)
    ]


def price_of(prefix: str) -> Price:
    [price] = [p for p in SMS_CARD.prices if p.prefix == prefix]
    return price


def unpriced(channel: CostChannel) -> float:
    sample = metrics.process_registry.get_sample_value
    return sample("dialer_unpriced_total", {"channel": channel.value}) or 0.0


def spent(tenant_id: int, channel: CostChannel) -> float:
    """The tenant's spend on ``channel`` in USD as this process counted it (a float)."""
    sample = metrics.process_registry.get_sample_value
    labels = {"tenant": str(tenant_id), "channel": channel.value, "currency": "USD"}
    return sample("dialer_spend_total", labels) or 0.0


async def charges(e: Engine, channel: CostChannel, ids: list[int]) -> dict[int, NewCharge]:
    async with e.store.unit() as uow:
        return await uow.costs.charges_of(channel, ids)


async def provider_segments(e: Engine, sid: str) -> int:
    """The segments the provider counted for one SMS (its Message resource)."""
    found = await e.sim.get(f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json", auth=(SID, TOKEN))
    assert found.status_code == 200, found.text
    return int(found.json()["num_segments"])


async def sms_campaign(e: Engine) -> Campaign:
    """The SMS card stored, and the campaign texting SMS_TO once their calls go unanswered."""
    await costs.add_card(e.store, e.runtime.services.pricing, SMS_CARD, e.clock.now())
    campaign_settings = settings(retry=RetryPolicy(1), steps=(NOTED,), ramp_up=0)
    return await e.campaign(campaign_settings, noted(SMS_TO))


async def run(e: Engine, campaign: Campaign) -> list[dict[str, Any]]:
    """The campaign run to its end (a minute at most): its message rows."""
    final = await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
    assert final.status is CampaignStatus.COMPLETED
    return await message_rows(e, campaign.id)


async def test_each_sms_costs_its_segments_at_its_longest_prefixs_price(
    engine: EngineFactory,
) -> None:
    async with engine(sim=unanswered()) as e:
        campaign = await sms_campaign(e)
        rows = await run(e, campaign)
        [card] = await costs.cards(e.store, "twilio", CostChannel.SMS)
        sent = {m["sid"]: m for m in (await e.stats())["sms"]["messages"]}
        reported = {sid: await provider_segments(e, sid) for sid in sent}
        charged = await charges(e, CostChannel.SMS, [r["id"] for r in rows])
    assert sorted(r["to_address"] for r in rows) == sorted(SMS_TO)
    assert sorted(m["to"] for m in sent.values()) == sorted(SMS_TO)  # each sent once
    assert set(charged) == {r["id"] for r in rows}
    for row in rows:
        body, prefix, count = SMS_TO[row["to_address"]]
        sid = row["provider_message_id"]
        assert sent[sid]["body"] == body
        # The segments: the provider's count, kept on the message, as a carrier bills them.
        assert reported[sid] == row["segments"] == segments(body).count == count, row
        charge = charged[row["id"]]
        assert charge.amount == price_of(prefix).per_segment * count, row
        assert (charge.currency, charge.card_id) == ("USD", card.id)
        assert (charge.campaign_id, charge.channel) == (campaign.id, CostChannel.SMS)


async def test_each_email_costs_its_cards_price(engine: EngineFactory, tmp_path: Any) -> None:
    async with running_smtp_sink(SINK) as sink:
        assert sink.certificate_pem is not None
        ca = tmp_path / "sink.pem"
        ca.write_bytes(sink.certificate_pem)
        smtp_url = f"smtp://dialer:sink-secret@{sink.host}:{sink.port}"
        async with engine(sim=unanswered(), smtp_url=smtp_url, smtp_ca_file=str(ca)) as e:
            pricing = e.runtime.services.pricing
            card = await costs.add_card(e.store, pricing, EMAIL_CARD, e.clock.now())
            campaign = await e.campaign(
                settings(retry=RetryPolicy(1), steps=(MAILED,), ramp_up=0), mailed(3)
            )
            spent_before = spent(campaign.tenant_id, CostChannel.EMAIL)
            final = await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
            rows = await message_rows(e, campaign.id)
            charged = await charges(e, CostChannel.EMAIL, [r["id"] for r in rows])
            received = sorted(address for mail in sink.received for address in mail.envelope_to)
    assert final.status is CampaignStatus.COMPLETED
    assert received == [f"m{n}@example.com" for n in range(500, 503)]
    assert sorted(r["to_address"] for r in rows) == received
    assert set(charged) == {r["id"] for r in rows}
    for row in rows:
        charge = charged[row["id"]]
        assert charge.amount == Decimal("0.00095"), row
        assert (charge.currency, charge.card_id, charge.channel) == (
            "USD",
            card.id,
            CostChannel.EMAIL,
        )
    assert spent(campaign.tenant_id, CostChannel.EMAIL) - spent_before == pytest.approx(0.00285)


async def test_a_message_no_card_covers_is_not_charged_and_counted_unpriced(
    engine: EngineFactory, tmp_path: Any
) -> None:
    """The sender's SMS card prices only UK numbers; another provider's cards cover these
    numbers and every email, but do not apply to this sender's messages."""
    uk_only = RateCard("twilio", CostChannel.SMS, "USD", (Price("44", per_segment=Decimal(1)),))
    others = [
        RateCard("vonage", CostChannel.SMS, "USD", (Price("1", per_segment=Decimal(1)),)),
        RateCard("sendgrid", CostChannel.EMAIL, "USD", (Price("", per_message=Decimal(1)),)),
    ]
    async with running_smtp_sink(SINK) as sink:
        assert sink.certificate_pem is not None
        ca = tmp_path / "sink.pem"
        ca.write_bytes(sink.certificate_pem)
        smtp_url = f"smtp://dialer:sink-secret@{sink.host}:{sink.port}"
        async with engine(sim=unanswered(), smtp_url=smtp_url, smtp_ca_file=str(ca)) as e:
            pricing = e.runtime.services.pricing
            for card in [uk_only, *others]:
                await costs.add_card(e.store, pricing, card, e.clock.now())
            contacts = noted(dict(list(SMS_TO.items())[:3]), email=True)
            steps = (NOTED, MAILED)
            campaign = await e.campaign(settings(retry=RetryPolicy(1), steps=steps), contacts)
            before = {c: unpriced(c) for c in (CostChannel.SMS, CostChannel.EMAIL)}
            final = await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
            rows = await message_rows(e, campaign.id)
            ids = [r["id"] for r in rows]
            sms_charges = await charges(e, CostChannel.SMS, ids)
            email_charges = await charges(e, CostChannel.EMAIL, ids)
            sms_sent = (await e.stats())["sms"]["messages_accepted"]
            emails_sent = len(sink.received)
    assert final.status is CampaignStatus.COMPLETED
    assert (
        sorted((r["channel"], r["status"]) for r in rows)
        == [("email", "SENT")] * 3 + [("sms", "DELIVERED")] * 3
    )
    assert (sms_sent, emails_sent) == (3, 3)  # sent all the same
    assert (sms_charges, email_charges) == ({}, {})
    assert unpriced(CostChannel.SMS) - before[CostChannel.SMS] == 3
    assert unpriced(CostChannel.EMAIL) - before[CostChannel.EMAIL] == 3


async def charge_again(e: Engine, ids: list[int]) -> None:
    """What writing the messages' acceptance does to charge them, once more: the messages
    read locked and charged, in another process's (dispatcher's) unit of work, with its own
    rate cards read afresh."""
    async with e.store.unit() as uow:
        found = await uow.messages.get_many(ids, lock=True)
        providers = {CostChannel.SMS: "twilio"}
        now = e.runtime.services.clock.now()
        await costs.charge_messages(uow, Pricing(), providers, list(found.values()), now)
        await uow.commit()


async def test_a_message_charged_again_keeps_its_one_charge(engine: EngineFactory) -> None:
    """A real send's acceptance is written once (a message found SENDING is never sent
    again), so its write is done again here, twice at once, as two dispatchers would."""
    async with engine(sim=unanswered()) as e:
        campaign = await sms_campaign(e)
        spent_before = spent(campaign.tenant_id, CostChannel.SMS)
        rows = await run(e, campaign)
        ids = [r["id"] for r in rows]
        first = await charges(e, CostChannel.SMS, ids)
        spent_first = spent(campaign.tenant_id, CostChannel.SMS)
        await asyncio.wait_for(asyncio.gather(charge_again(e, ids), charge_again(e, ids)), 30)
        again = await charges(e, CostChannel.SMS, ids)
        counted = await costs.rollup(e.store, CostQuery(campaign.tenant_id))
    total = sum((c.amount for c in first.values()), Decimal(0))
    assert set(first) == set(ids)
    assert again == first  # the same charges, not written again
    assert [(r.campaign_id, r.count, r.amount) for r in counted] == [(campaign.id, len(ids), total)]
    assert spent_first - spent_before == pytest.approx(float(total))  # counted once, when stored
    assert spent(campaign.tenant_id, CostChannel.SMS) == spent_first


class AnswerLost:
    """The SMS provider takes each send, but its answer never reaches us (a timeout after
    the request was sent): Dialer learns of the message from its status callbacks alone."""

    def __init__(self, inner: SmsSender) -> None:
        self.inner = inner
        self.name = inner.name

    async def send_sms(self, request: SmsRequest) -> MessageAccepted:
        await self.inner.send_sms(request)
        raise ProviderOutcomeUnknown("the answer to the send timed out")

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_an_sms_whose_send_answer_was_lost_is_charged_once_it_is_over(
    engine: EngineFactory,
) -> None:
    numbers = {n: v for n, v in SMS_TO.items() if v[2] == 1 or v[1] == NYC}
    async with engine(sim=unanswered()) as e:
        services = e.runtime.services
        assert services.sms is not None
        services.sms = AnswerLost(services.sms)
        await costs.add_card(e.store, services.pricing, SMS_CARD, e.clock.now())
        campaign_settings = settings(retry=RetryPolicy(1), steps=(NOTED,), ramp_up=0)
        campaign = await e.campaign(campaign_settings, noted(numbers))
        rows = await run(e, campaign)
        charged = await charges(e, CostChannel.SMS, [r["id"] for r in rows])
    assert {r["status"] for r in rows} == {"DELIVERED"}
    assert {r["segments"] for r in rows} == {None}  # the provider's count never reached us
    assert set(charged) == {r["id"] for r in rows}
    for row in rows:
        _, prefix, _ = numbers[row["to_address"]]
        # One segment each: the callbacks do not say how many the provider billed.
        assert charged[row["id"]].amount == price_of(prefix).per_segment, row

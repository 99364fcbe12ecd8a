"""Email steps end to end on SQLite and PostgreSQL: the lead's call unanswered, its SMS sent,
then its email through a real SMTP server (the simulator's sink, with STARTTLS and AUTH) with
a working one-click unsubscribe link served by our listener."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from dialer.adapters.store.message_tables import channel_opt_outs
from dialer.domain.channels import Channel, MessageStep
from dialer.domain.phone import zone_key
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import CampaignStatus
from dialer.ports import ContactDraft
from dialer.runner import run_to_end
from dialer.simulator.config import Outcome, SmsOutcome, SmtpSinkOptions
from dialer.simulator.smtp_sink import running_smtp_sink
from tests.integration.channels.test_sms_steps import message_rows
from tests.support.engine import NY, Engine, EngineFactory, settings, sim_config

WITH_EMAIL, WITHOUT_EMAIL, ANSWERS = "+12125550201", "+12125550202", "+12125550203"
CALLS = {WITH_EMAIL: Outcome.NO_ANSWER, WITHOUT_EMAIL: Outcome.NO_ANSWER, ANSWERS: Outcome.ANSWER}
STEPS = (
    MessageStep(Channel.SMS, "Hi {{ name }}, we missed you.", when=frozenset({"no_answer"})),
    MessageStep(
        Channel.EMAIL,
        "Hello {{ name }}, your appointment is on {{ day }}.",
        when=frozenset({"no_answer"}),
        sender="Acme Reminders <reminders@acme.example>",
        subject="We tried to reach you, {{ name }}",
        html="<p>Hello {{ name }}, your appointment is on <b>{{ day }}</b>.</p>",
    ),
)
SINK = SmtpSinkOptions(starttls=True, username="dialer", password="sink-secret")


def contacts() -> list[ContactDraft]:
    zone = zone_key((NY,))
    return [
        ContactDraft(
            WITH_EMAIL, zone, name="Ann", attributes={"email": "ann@example.com", "day": "Friday"}
        ),
        ContactDraft(WITHOUT_EMAIL, zone, name="Bob", attributes={"day": "Monday"}),
        ContactDraft(
            ANSWERS, zone, name="Cy", attributes={"email": "cy@example.com", "day": "Sunday"}
        ),
    ]


async def opt_outs(e: Engine) -> list[tuple[str, str]]:
    async with e.store.unit() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        o = channel_opt_outs.c
        return [(r.channel, r.address) for r in await conn.execute(select(o.channel, o.address))]


async def test_the_email_follows_the_sms_and_its_unsubscribe_link_works(
    engine: EngineFactory, tmp_path: Any
) -> None:
    sim = sim_config(
        outcome_overrides=CALLS, sms_outcome_mix={SmsOutcome.DELIVERED: 1.0}, sms_mps=10.0
    )
    async with running_smtp_sink(SINK) as sink:
        assert sink.certificate_pem is not None
        ca = tmp_path / "sink.pem"
        ca.write_bytes(sink.certificate_pem)
        smtp_url = f"smtp://dialer:sink-secret@{sink.host}:{sink.port}"
        async with engine(sim=sim, smtp_url=smtp_url, smtp_ca_file=str(ca)) as e:
            campaign = await e.campaign(settings(retry=RetryPolicy(1), steps=STEPS), contacts())
            final = await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
            rows = {(r["to_address"], r["channel"]): r for r in await message_rows(e, campaign.id)}
            [mail] = sink.received
            link = (mail.header("List-Unsubscribe") or "").strip("<>")
            async with httpx.AsyncClient() as http:
                page = await http.get(link)
                after_get = await opt_outs(e)
                forged = await http.post(link[: link.rindex("/") + 1] + "not-the-token")
                one_click = await http.post(link, data={"List-Unsubscribe": "One-Click"})
            after_post = await opt_outs(e)
            # The next campaign's email to the address that unsubscribed is not sent.
            again = settings(name="again", retry=RetryPolicy(1), steps=STEPS)
            second = await e.campaign(again, contacts()[:1])
            await asyncio.wait_for(run_to_end(e.runtime, second.id), 60)
            later = {r["channel"]: r for r in await message_rows(e, second.id)}
            received = len(sink.received)
    assert final.status is CampaignStatus.COMPLETED
    assert mail.envelope_to == ("ann@example.com",)
    assert mail.header("Subject") == "We tried to reach you, Ann"
    assert mail.header("From") == "Acme Reminders <reminders@acme.example>"
    assert mail.text is not None
    assert mail.text.strip() == "Hello Ann, your appointment is on Friday."
    assert mail.html is not None
    assert "<b>Friday</b>" in mail.html
    assert mail.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert mail.message_id == rows[("ann@example.com", "email")]["provider_message_id"]
    # The lead without an address had its SMS, and its email step was skipped, saying why.
    assert rows[(WITHOUT_EMAIL, "sms")]["status"] == "DELIVERED"
    assert rows[("", "email")]["status"] == "SKIPPED"
    assert rows[("", "email")]["error"] == "the contact has no email address"
    assert not any(to in {ANSWERS, "cy@example.com"} for to, _ in rows)  # answered: nothing
    # A GET (a mail scanner following the link) changes nothing; a forged token is refused.
    assert page.status_code == 200
    assert after_get == []
    assert forged.status_code == 404
    assert one_click.status_code == 200
    assert after_post == [("email", "ann@example.com")]
    assert later["email"]["status"] == "SKIPPED"
    assert later["email"]["error"] == "opted out of email"
    assert later["sms"]["status"] == "DELIVERED"  # an email opt-out is not an SMS one
    assert received == 1

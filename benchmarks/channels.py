"""Channels under load: calls, SMS and email together against a whole deployment, each
channel's latency from due to provider-accepted measured against its SLO.

    .venv/bin/python -m benchmarks.channels                      # scenario 1: 50 calls/s +
                                                                 # 200 SMS/s + 500 emails/s, 60 s
    .venv/bin/python -m benchmarks.channels --scenario peak --seconds 30    # 200 / 1,000 / 2,000
    .venv/bin/python -m benchmarks.channels --scenario stress --seconds 20  # 500 / 2,500 / 5,000
    .venv/bin/python -m benchmarks.channels --calls 0 --sms 200 --email 0   # one channel alone
    .venv/bin/python -m benchmarks.channels --source campaign --calls 50    # messages made by
                                                                 # the calls' no-answers
    .venv/bin/python -m benchmarks.channels --profile            # py-spy during the window

The deployment is benchmarks/deployment.py's (its own PostgreSQL database, a private Redis,
RabbitMQ queues of its own, 2 dispatchers, 2 workers, 2 listeners, beat, the simulator), plus
a second simulator process whose SMTP sink is the mail server (``DIALER_SMTP_URL``): the
deployment's simulator takes the calls and the SMS (Twilio's Messages API; its status
callbacks go to the listeners like the calls').

Two sources of messages (``--source``):

* ``direct`` (the default) isolates the message path: leads already finished (EXHAUSTED
  after a no-answer) in an SMS campaign and an email campaign, and their message rows added
  while the run goes, each a second before it is due, row k due at start + k / rate (as the
  step after a call adds its message when the call ends). The default adds the same rows
  ``uow.messages.add`` writes with one INSERT per chunk, so that this process takes little of
  the machine; ``--enqueue store`` adds them through the store's ``uow.messages.add`` itself
  (one INSERT per row). Calls run beside them as in benchmarks/e2e.py (60 % answered).
* ``campaign`` runs the path end to end: every call ends unanswered (ring 5 s, the shortest
  a campaign file allows), each campaign's steps are an SMS then an email (both ``when:
  no_answer``); the messages come at the call rate, the email after the SMS is delivered.

SMS senders are short codes (100 messages/s each at the carrier, paced 10 % under), as many
as the rate needs (3 for 200/s); ``--toll-free`` uses toll-free numbers instead (3/s each).

Every figure is counted from the providers' side where it can be: latency is due (the lead's
``next_attempt_at``, the message's ``due_at``) → the simulator's start instant of the call, its
``accepted_at`` of the SMS, the SMTP sink's ``received_at`` of the email (each simulator's
clock checked against this process's at the start); duplicates, refusals and the densest
second from the simulators' observers. CPU from the kernel (psutil). Exits 1 when a message
went out twice, a number was called twice or in two calls at once, the provider saw more
live calls than the cap, or more sends in a second than a rate limit allows.

    python -m benchmarks.channels mail HTTP_PORT SMTP_PORT   # the mail simulator (started
                                                             # by the harness itself)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import smtplib
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import psutil

from benchmarks.deployment import (
    NY,
    Deployment,
    Histogram,
    ProcessSampler,
    Topology,
    attempts_between,
    campaign_with_leads,
    deployment,
    machine,
    max_in_window,
    ms,
    percentile,
    schedule,
    simulator_config,
    starts_by_number,
)
from benchmarks.e2e import (
    burst_of,
    campaign_settings,
    print_profile,
    set_rate,
    start_profilers,
    warm_up,
)
from dialer.adapters.messaging.email_message import message_row_id
from dialer.cli.supervise import Spec, free_port, wait_for_port
from dialer.domain.channels import Channel, MessageStep
from dialer.domain.messages import NewMessage
from dialer.domain.model import Campaign, CampaignSettings, Rate
from dialer.domain.retry import RetryPolicy
from dialer.services.message_sending import sender_rate
from dialer.simulator.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

SCENARIOS = {  # calls, SMS, emails per second
    "mixed": (50.0, 200.0, 500.0),
    "peak": (200.0, 1000.0, 2000.0),
    "stress": (500.0, 2500.0, 5000.0),
}
SLO_P95 = {"phone": 0.800, "sms": 1.000, "email": 1.500}  # due -> provider-accepted, seconds
CALLER_ID = "+14155550100"
EMAIL_SENDER = "Bench Reminders <reminders@bench.example>"
TOLL_FREE_BASE = 18005550000  # +1 800 555 0000, +1 800 555 0001, ...
SHORT_CODE_BASE = 20000
SENDER_HEADROOM = 1.1  # senders for 10 % more than the rate
ENQUEUE_CHUNK = 500  # message rows per transaction at most when enqueueing
ENQUEUE_AHEAD = 1.0  # seconds before its due instant a message row is added
ENQUEUE_EVERY = 0.1  # seconds between the producer's looks at the clock
WARM_MESSAGES = 20  # per channel, sent before measuring
DRAIN_SECONDS = 15.0  # after the window: for what was due in it to be sent
CREATE_GRACE = 2.0  # after the last call due in the window was claimed: its create in flight
SAMPLE_EVERY = 5.0
SMS_NUMBERS = 3_000_000  # first phone number of the SMS leads (calls' leads start at 0)
EMAIL_NUMBERS = 6_000_000
FLOW_NUMBERS = 1_000_000  # campaign source: first number of each call campaign's leads
WARM_FLOW = 2  # campaign source: calls per campaign before measuring
DIALER_KINDS = ("dispatcher", "worker", "listener", "beat")
NOT_SENT = ("CANCELED", "FAILED")  # an attempt in one of these without a sent marker


# ------------------------------------------------------------------ command line


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="mixed")
    parser.add_argument("--calls", type=float, help="calls due per second (the scenario's)")
    parser.add_argument("--sms", type=float, help="SMS due per second (the scenario's)")
    parser.add_argument("--email", type=float, help="emails due per second (the scenario's)")
    parser.add_argument("--seconds", type=float, default=60.0, help="the measured window")
    parser.add_argument("--source", choices=("direct", "campaign"), default="direct")
    parser.add_argument("--toll-free", action="store_true", help="toll-free SMS senders")
    parser.add_argument(
        "--enqueue", choices=("sql", "store"), default="sql", help="how message rows are added"
    )
    parser.add_argument(
        "--rate-factor",
        type=float,
        default=1.5,
        help="DIALER_SMS/EMAIL_RATE_PER_SECOND as this many times the offered rate",
    )
    parser.add_argument("--smtp-pool", type=int, default=8, help="DIALER_SMTP_POOL_SIZE")
    parser.add_argument("--cap", type=int, default=5000, help="the call campaigns' cap")
    parser.add_argument("--dispatchers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--listeners", type=int, default=2)
    parser.add_argument("--redis-port", type=int, default=0, help="0: a free port")
    parser.add_argument("--profile", action="store_true", help="py-spy during the window")
    args = parser.parse_args()
    calls, sms, email = SCENARIOS[args.scenario]
    args.calls = calls if args.calls is None else args.calls
    args.sms = sms if args.sms is None else args.sms
    args.email = email if args.email is None else args.email
    if args.source == "campaign":
        args.sms = args.email = args.calls  # one SMS and one email per unanswered call
    args.redis_port = args.redis_port or free_port()
    return args


# ------------------------------------------------------------------ the mail provider


def start_mail(deploy: Deployment, http_port: int, smtp_port: int) -> str:
    """The second simulator, whose SMTP sink is the deployment's mail server."""
    argv = [sys.executable, "-m", "benchmarks.channels", "mail", str(http_port), str(smtp_port)]
    deploy.supervisor.start(Spec("mail", argv, stop_rank=9))
    for port in (http_port, smtp_port):
        if not wait_for_port("127.0.0.1", port, 30):
            raise RuntimeError(f"the mail simulator did not start (see {deploy.logs})")
    return f"http://127.0.0.1:{http_port}"


def _run_mail(http_port: int, smtp_port: int) -> None:
    from dialer.simulator.config import SmtpSinkOptions, config_from
    from dialer.simulator.server import serve

    config = config_from({"speed": 1.0, "epoch": datetime.now(UTC).isoformat()})
    serve(config, "127.0.0.1", http_port, SmtpSinkOptions(port=smtp_port))


async def stats_of(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        return dict((await client.get("/_sim/stats")).json())


async def reset(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        (await client.post("/_sim/reset")).raise_for_status()


# ------------------------------------------------------------------ the simulators' clocks


async def sms_clock_offset(sim_url: str) -> tuple[float, float]:
    """Seconds to add to the simulator's instants to read them on this process's clock, and
    the uncertainty (half the request's round trip). A simulator's instants are its epoch plus
    the time since its clock was made, a little after the epoch was taken."""
    best = (0.0, math.inf)
    path = f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"
    auth = (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    async with httpx.AsyncClient(base_url=sim_url, auth=auth, timeout=30) as client:
        for n in range(5):
            to = f"+1646555{n:04d}"
            form = {"To": to, "From": f"+{TOLL_FREE_BASE + 9990 + n}", "Body": "clock"}
            before = time.time()
            (await client.post(path, data=form)).raise_for_status()
            after = time.time()
            [sms] = [m for m in (await stats_of(sim_url))["sms"]["messages"] if m["to"] == to]
            accepted = datetime.fromisoformat(sms["accepted_at"]).timestamp()
            if (after - before) / 2 < best[1]:
                best = ((before + after) / 2 - accepted, (after - before) / 2)
    return best


async def mail_clock_offset(mail_url: str, smtp_port: int) -> tuple[float, float]:
    """The same for the SMTP sink's ``received_at``, bracketing the DATA command."""
    best = (0.0, math.inf)
    for n in range(5):
        before, after = await asyncio.to_thread(_one_email, smtp_port, f"clock{n}@bench.example")
        emails = (await stats_of(mail_url))["email"]["messages"]
        [email] = [e for e in emails if e["envelope_to"] == [f"clock{n}@bench.example"]]
        received = datetime.fromisoformat(email["received_at"]).timestamp()
        if (after - before) / 2 < best[1]:
            best = ((before + after) / 2 - received, (after - before) / 2)
    return best


def _one_email(port: int, to: str) -> tuple[float, float]:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "clock@bench.example", to, "clock"
    message["Message-ID"] = f"<clock.{secrets.token_hex(8)}@bench.example>"
    message.set_content("clock")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail("clock@bench.example")
        smtp.rcpt(to)
        before = time.time()
        smtp.data(message.as_bytes())
        return before, time.time()


# ------------------------------------------------------------------ campaigns and messages


def senders(rate: float, toll_free: bool) -> list[str]:
    """Enough SMS senders for ``rate`` at what carriers allow each, 10 % to spare."""
    first = f"+{TOLL_FREE_BASE}" if toll_free else str(SHORT_CODE_BASE)
    each = sender_rate(first).per_second
    count = max(1, math.ceil(rate * SENDER_HEADROOM / each))
    if toll_free:
        return [f"+{TOLL_FREE_BASE + n}" for n in range(count)]
    return [str(SHORT_CODE_BASE + n) for n in range(count)]


def sms_step(sender: str | None = None) -> MessageStep:
    body = "We tried to reach you about your appointment. Reply STOP to opt out."
    return MessageStep(Channel.SMS, body, frozenset({"no_answer"}), sender)


def email_step() -> MessageStep:
    body = "Hello, we tried to reach you about your appointment. Call us back any time."
    return MessageStep(
        Channel.EMAIL,
        body,
        frozenset({"no_answer"}),
        EMAIL_SENDER,
        subject="We tried to reach you",
        html="<p>Hello, we tried to reach you about your <b>appointment</b>.</p>",
    )


def message_campaign(name: str, step: MessageStep) -> CampaignSettings:
    return CampaignSettings(name, CALLER_ID, retry=RetryPolicy(1), steps=(step,))


@dataclass
class Queue:
    """One channel's campaign of finished leads, and the message rows enqueued for them."""

    channel: str
    campaign: Campaign
    rate: float
    lead_ids: list[int]
    phones: list[str]
    senders: list[str] = field(default_factory=list)
    via: str = "sql"  # how rows are added: one SQL INSERT per chunk, or the store's add
    enqueued: int = 0  # rows added so far (the warm-up's first)
    late: list[float] = field(default_factory=list)  # seconds a row was added after its due
    # Each row's due instant by its token: a claim moves due_at on (its lease), so the row's
    # own due_at is no longer the instant it was due.
    due_by_token: dict[str, datetime] = field(default_factory=dict)


async def finished_leads(
    deploy: Deployment, settings: CampaignSettings, count: int, first: int
) -> tuple[Campaign, list[int], list[str]]:
    """A running campaign of ``count`` leads whose call step is over (EXHAUSTED after a
    no-answer), and one more left pending far ahead so that the campaign is never found
    finished between two messages: the campaign, the finished leads' ids and numbers."""
    campaign, _ = await campaign_with_leads(deploy, settings, count + 1, first)
    conn = await asyncpg.connect(deploy.database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, phone FROM leads WHERE campaign_id = $1 ORDER BY id LIMIT $2",
            campaign.id, count,
        )  # fmt: skip
        await conn.execute(
            """UPDATE leads SET status = 'EXHAUSTED', attempts = 1, next_attempt_at = NULL
               WHERE id = ANY($1::bigint[])""",
            [r["id"] for r in rows],
        )
    finally:
        await conn.close()
    return campaign, [int(r["id"]) for r in rows], [str(r["phone"]) for r in rows]


async def enqueue(
    deploy: Deployment, queue: Queue, due: list[datetime], conn: asyncpg.Connection
) -> None:
    """The queue's next message rows, one per lead, due at the given instants: one INSERT of
    them all on ``conn``, or with ``--enqueue store`` through the store (as the step that
    follows a call adds them, one statement each)."""
    channel = Channel(queue.channel)
    rows = [
        _new_message(queue, channel, n, due[k])
        for k, n in enumerate(range(queue.enqueued, queue.enqueued + len(due)))
    ]
    if queue.via == "sql":
        await _insert_rows(conn, rows)
    else:
        async with deploy.runtime.services.store.unit() as uow:
            await uow.messages.add(rows, datetime.now(UTC))
            await uow.commit()
    queue.enqueued += len(due)


async def _insert_rows(conn: asyncpg.Connection, rows: Sequence[NewMessage]) -> None:
    columns = (
        "tenant_id", "campaign_id", "lead_id", "step", "channel", "to_address", "sender",
        "due_at", "zone_key", "token",
    )  # fmt: skip
    values = [
        [m.tenant_id for m in rows], [m.campaign_id for m in rows], [m.lead_id for m in rows],
        [m.step for m in rows], [m.channel.value for m in rows], [m.to for m in rows],
        [m.sender for m in rows], [m.due_at for m in rows], [m.zone_key for m in rows],
        [m.token for m in rows],
    ]  # fmt: skip
    await conn.execute(
        f"""INSERT INTO messages ({", ".join(columns)}, status, created_at, outcomes, tries)
            SELECT *, 'PENDING', now(), '["no_answer"]'::json, 0 FROM unnest(
                $1::bigint[], $2::bigint[], $3::bigint[], $4::int[], $5::text[],
                $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::text[])""",
        *values,
    )


def _new_message(queue: Queue, channel: Channel, n: int, due: datetime) -> NewMessage:
    lead_id = queue.lead_ids[n]
    is_sms = channel is Channel.SMS
    token = secrets.token_urlsafe(24)
    queue.due_by_token[token] = due
    return NewMessage(
        tenant_id=queue.campaign.tenant_id,
        campaign_id=queue.campaign.id,
        lead_id=lead_id,
        step=1,
        channel=channel,
        to=queue.phones[n] if is_sms else f"lead{lead_id}@bench.example",
        sender=queue.senders[n % len(queue.senders)] if is_sms else EMAIL_SENDER,
        due_at=due,
        zone_key=NY,
        outcomes=("no_answer",),
        token=token,
    )


async def produce(deploy: Deployment, queue: Queue, t0: float, count: int) -> None:
    """Row k due at t0 + k / rate, each added ENQUEUE_AHEAD seconds before it is due (in
    chunks of at most ENQUEUE_CHUNK): the queue a stream of calls' no-answers would make."""
    conn = await asyncpg.connect(deploy.database_url)
    try:
        made = 0
        while made < count:
            ahead = (time.time() + ENQUEUE_AHEAD - t0) * queue.rate
            target = min(count, made + ENQUEUE_CHUNK, max(0, math.ceil(ahead)))
            if target == made:
                await asyncio.sleep(ENQUEUE_EVERY)
                continue
            due = [t0 + k / queue.rate for k in range(made, target)]
            await enqueue(deploy, queue, [_at(t) for t in due], conn)
            queue.late.append(time.time() - due[0])  # > 0: its first row came in late
            made = target
    finally:
        await conn.close()


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def warm_messages(
    deploy: Deployment, queues: Sequence[Queue], conn: asyncpg.Connection
) -> None:
    """A few messages of each channel sent before measuring (connections made, SMTP sessions
    open, statements prepared)."""
    now = time.time()
    for queue in queues:
        await enqueue(deploy, queue, [_at(now + k / 20) for k in range(WARM_MESSAGES)], conn)
    deadline = time.monotonic() + 120
    while await _unsent(conn, [q.campaign.id for q in queues], time.time() + 60):
        deploy.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"warm-up messages not sent in 120 s (logs: {deploy.logs})")
        await asyncio.sleep(0.5)


async def _unsent(conn: asyncpg.Connection, campaign_ids: Sequence[int], before: float) -> int:
    """Messages of these campaigns due before ``before`` and not sent yet (a row is added
    ENQUEUE_AHEAD before it is due; its due_at may be a claim's lease)."""
    n = await conn.fetchval(
        """SELECT count(*) FROM messages WHERE campaign_id = ANY($1::bigint[])
           AND status IN ('PENDING', 'SENDING') AND created_at < $2""",
        list(campaign_ids), _at(before - ENQUEUE_AHEAD),
    )  # fmt: skip
    return int(n)


async def backlog_now(conn: asyncpg.Connection, call_campaigns: Sequence[int]) -> dict[str, int]:
    """Due now and not yet sent, per channel: the queues in the store (calls: due leads not
    yet claimed, as benchmarks/deployment.due_backlog counts them)."""
    rows = await conn.fetch(
        """SELECT channel, count(*) FROM messages WHERE status = 'PENDING'
           AND created_at <= now() - make_interval(secs => $1) GROUP BY channel""",
        ENQUEUE_AHEAD,
    )
    calls = await conn.fetchval(
        """SELECT count(*) FROM leads WHERE campaign_id = ANY($1::bigint[])
           AND status IN ('PENDING', 'WAITING_RETRY') AND next_attempt_at <= now()""",
        list(call_campaigns),
    )
    connections = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    )
    found = {str(r[0]): int(r[1]) for r in rows}
    return {
        "phone": int(calls),
        "sms": found.get("sms", 0),
        "email": found.get("email", 0),
        "connections": int(connections),  # the deployment's, to its own database
    }


@dataclass(frozen=True)
class Row:
    id: int
    channel: str
    status: str
    due_at: datetime
    sent_at: datetime | None
    error: str | None
    token: str
    created_at: datetime


async def message_rows(conn: asyncpg.Connection, campaign_ids: Sequence[int]) -> list[Row]:
    rows = await conn.fetch(
        """SELECT id, channel, status, due_at, sent_at, error, token, created_at FROM messages
           WHERE campaign_id = ANY($1::bigint[])""",
        list(campaign_ids),
    )
    letters = await conn.fetchval("SELECT count(*) FROM dead_letters WHERE kind = 'message'")
    if letters:
        print(f"  dead letters of messages: {letters}")
    return [Row(**dict(r)) for r in rows]


# ------------------------------------------------------------------ the campaign source


@dataclass
class Flow:
    """Call campaigns whose unanswered calls are followed by an SMS and an email."""

    campaigns: list[Campaign]
    firsts: list[int]  # each campaign's first lead id
    per_campaign: float  # calls due per second in each


async def flow_campaigns(deploy: Deployment, args: argparse.Namespace) -> Flow:
    """One campaign per SMS sender (a step has one sender), the call rate shared among
    them; every contact has an email address."""
    campaigns, firsts = [], []
    chosen = senders(args.calls, args.toll_free)
    per_campaign = args.calls / len(chosen)
    leads = math.ceil(per_campaign * args.seconds) + WARM_FLOW
    for n, sender in enumerate(chosen):
        settings = replace(
            campaign_settings(args.cap, Rate(1, 1)),
            name=f"flow-{n}",
            steps=(sms_step(sender), email_step()),
        )
        campaign, first = await campaign_with_leads(
            deploy, settings, leads, FLOW_NUMBERS + n * leads
        )
        await _give_email_addresses(deploy, campaign.id)
        campaigns.append(campaign)
        firsts.append(first)
    print(f"{len(campaigns)} call campaigns of {leads:,} leads, one SMS sender each", flush=True)
    return Flow(campaigns, firsts, per_campaign)


async def warm_flow(deploy: Deployment, flow: Flow, conn: asyncpg.Connection) -> None:
    """WARM_FLOW calls per campaign, unanswered, and their SMS and email sent."""
    now = datetime.now(UTC)
    for campaign, first in zip(flow.campaigns, flow.firsts, strict=True):
        await set_rate(deploy, campaign.id, Rate(10, 2))
        await schedule(deploy, campaign.id, first, WARM_FLOW, 10, now)
    wanted = 2 * WARM_FLOW * len(flow.campaigns)  # an SMS and an email per lead
    deadline = time.monotonic() + 120
    while await _sent(conn, [c.id for c in flow.campaigns]) < wanted:
        deploy.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"warm-up calls and messages not done in 120 s ({deploy.logs})")
        await asyncio.sleep(0.5)
    flow.firsts = [first + WARM_FLOW for first in flow.firsts]


async def _sent(conn: asyncpg.Connection, campaign_ids: Sequence[int]) -> int:
    n = await conn.fetchval(
        """SELECT count(*) FROM messages WHERE campaign_id = ANY($1::bigint[])
           AND provider_message_id IS NOT NULL""",
        list(campaign_ids),
    )
    return int(n)


async def _give_email_addresses(deploy: Deployment, campaign_id: int) -> None:
    conn = await asyncpg.connect(deploy.database_url)
    try:
        await conn.execute(
            """UPDATE contacts c SET attributes = json_build_object('email',
                   'contact' || c.id || '@bench.example')
               FROM leads l WHERE l.contact_id = c.id AND l.campaign_id = $1""",
            campaign_id,
        )
    finally:
        await conn.close()


# ------------------------------------------------------------------ figures


@dataclass
class ChannelFigures:
    channel: str
    offered: float
    seconds: float
    due: int = 0  # items due during the window
    accepted: int = 0  # of those, accepted by the provider by the end of the drain †
    accepted_in_window: int = 0  # accepted during the window (any due time) †
    latencies: list[float] = field(default_factory=list)  # due -> accepted, seconds
    claimed: list[float] = field(default_factory=list)  # due -> claimed (the sent marker)
    backlog: list[int] = field(default_factory=list)  # due and unsent, every 5 s
    duplicates: int = 0  # †
    refusals: int = 0  # †
    errors: int = 0  # calls not sent; messages failed, undelivered, skipped or cancelled
    densest: int = 0  # most accepted in any 1 s †
    allowed: int | None = None  # what the rate limit admits in 1 s
    densest_sender: int = 0  # SMS: the most from one sender in any 1 s †
    allowed_sender: int | None = None
    statuses: Counter[str] = field(default_factory=Counter)
    peak_live: int = 0  # phone: the most calls live at once †
    cap: int | None = None  # phone: the campaigns' cap

    def quantile(self, q: float) -> float:
        """Of every item due in the window: one never accepted counts as infinitely late."""
        unsent = max(0, self.due - len(self.latencies))
        return percentile([*self.latencies, *([math.inf] * unsent)], q)

    @property
    def met(self) -> bool:
        return self.quantile(95) < SLO_P95[self.channel]

    def row(self) -> str:
        p50, p95, p99 = (_ms(self.quantile(q)) for q in (50, 95, 99))
        queue = f"{self.backlog[0]:,} → {self.backlog[-1]:,}" if self.backlog else "—"
        densest = f"{self.densest} / {self.allowed if self.allowed else '—'}"
        if self.allowed_sender:
            densest += f" (per sender {self.densest_sender} / {self.allowed_sender})"
        claimed = _ms(percentile(self.claimed, 50)) if self.claimed else "—"
        return (
            f"| {self.channel} | {self.offered:g} | {self.accepted_in_window / self.seconds:.1f} | "
            f"{self.accepted:,} / {self.due:,} | {p50} / {p95} / {p99} | {claimed} | "
            f"< {SLO_P95[self.channel] * 1000:,.0f} | {'yes' if self.met else '**no**'} | "
            f"{queue} | {self.duplicates} | {self.refusals} | {self.errors} | {densest} |"
        )


HEADER = (
    "| channel | offered /s | accepted /s † | accepted † / due | due → accepted p50 / p95 / "
    "p99 ms | due → claimed p50 ms | SLO p95 ms | met | due, unsent (first → last 5 s mark) | "
    "duplicates † | refusals † | errors | densest 1 s † / allowed |\n"
    "|---|---:|---:|---:|---:|---:|---:|:-:|---:|---:|---:|---:|---:|"
)


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "—"
    return "unsent" if math.isinf(seconds) else f"{seconds * 1000:,.0f}"


def channel_rate(args: argparse.Namespace, offered: float) -> float:
    """The deployment-wide rate set for a channel: above the offer, so that pacing is not
    what the run measures, and checked at the provider all the same."""
    return float(round(offered * args.rate_factor, 1))


def allowed_in_1s(rate: Rate, send_slots: bool = False) -> int:
    """The most a GCRA limiter admits in any 1-second window: its burst at once, then one
    every 1/rate (benchmarks/e2e.py). Messages are paced by send slots alone, whose burst is
    one less (``RateLimiter.send_gcra``: ``max(1, burst - 1)``)."""
    burst = max(1, rate.burst - 1) if send_slots else rate.burst
    return math.ceil(rate.per_second) + burst - 1


def instants(items: Iterable[tuple[str, float]]) -> dict[str, list[float]]:
    """Accepted instants grouped by key, each list sorted."""
    grouped: dict[str, list[float]] = {}
    for key, at in items:
        grouped.setdefault(key, []).append(at)
    return {key: sorted(values) for key, values in grouped.items()}


def in_window(values: Iterable[float], t0: float, seconds: float) -> int:
    return sum(t0 <= t < t0 + seconds for t in values)


# ------------------------------------------------------------------ one run


@dataclass
class Run:
    args: argparse.Namespace
    deploy: Deployment
    sampler: ProcessSampler
    mail_url: str
    offsets: dict[str, float]
    t0: float = 0.0
    queues: list[Queue] = field(default_factory=list)
    call_campaign: Campaign | None = None
    call_first: int = 0
    flow: Flow | None = None
    backlog: dict[str, list[int]] = field(default_factory=dict)
    producers: list[asyncio.Task[None]] = field(default_factory=list)
    conn: Any = None  # asyncpg: this harness's one connection for its looks at the store


async def prepare(run: Run) -> None:
    """Campaigns, leads and message rows loaded; everything warmed up; nothing due."""
    args, deploy = run.args, run.deploy
    if args.source == "campaign":
        run.flow = await flow_campaigns(deploy, args)
        await warm_flow(deploy, run.flow, run.conn)
        return
    if args.calls:
        count = math.ceil(args.calls * args.seconds) + 20
        settings = campaign_settings(args.cap, Rate(1, 1))
        run.call_campaign, run.call_first = await campaign_with_leads(deploy, settings, count)
        run.call_first += await warm_up(deploy, run.call_campaign.id, run.call_first)
    for channel, rate, first in (
        ("sms", args.sms, SMS_NUMBERS),
        ("email", args.email, EMAIL_NUMBERS),
    ):
        if rate:
            run.queues.append(await load_queue(run, channel, rate, first))
    if run.queues:
        await warm_messages(deploy, run.queues, run.conn)


async def load_queue(run: Run, channel: str, rate: float, first_number: int) -> Queue:
    count = math.ceil(rate * run.args.seconds) + WARM_MESSAGES
    step = sms_step() if channel == "sms" else email_step()
    campaign, lead_ids, phones = await finished_leads(
        run.deploy, message_campaign(channel, step), count, first_number
    )
    queue = Queue(channel, campaign, rate, lead_ids, phones, via=run.args.enqueue)
    if channel == "sms":
        queue.senders = senders(rate, run.args.toll_free)
        print(f"SMS senders: {len(queue.senders)} ({queue.senders[0]} …)", flush=True)
    return queue


async def start_window(run: Run) -> datetime:
    """Everything made due from one instant, each channel at its rate."""
    args, deploy = run.args, run.deploy
    start = datetime.now(UTC) + timedelta(seconds=2)
    if run.call_campaign is not None:
        rate = Rate(args.calls, burst_of(args.calls, 0.2))
        await set_rate(deploy, run.call_campaign.id, rate)
        count = math.ceil(args.calls * args.seconds)
        await schedule(deploy, run.call_campaign.id, run.call_first, count, args.calls, start)
    if run.flow is not None:
        per = run.flow.per_campaign
        count = math.ceil(per * args.seconds)
        for campaign, first in zip(run.flow.campaigns, run.flow.firsts, strict=True):
            await set_rate(deploy, campaign.id, Rate(per, max(1, math.ceil(per * 0.2))))
            await schedule(deploy, campaign.id, first, count, per, start)
    run.t0 = start.timestamp()
    for queue in run.queues:
        count = math.ceil(queue.rate * args.seconds)
        task = asyncio.create_task(produce(deploy, queue, run.t0, count), name=queue.channel)
        run.producers.append(task)
    return start


async def watch(run: Run) -> None:
    """Until the window ends: processes alive, and the queues sampled every 5 s (a sample
    the database refused — it may be out of connections — is left out, and counted)."""
    end = run.t0 + run.args.seconds
    calls = call_campaign_ids(run)
    while (left := end - time.time()) > 0:
        await asyncio.sleep(min(SAMPLE_EVERY, left))
        run.deploy.check_alive()
        try:
            found = await backlog_now(run.conn, calls)
        except (asyncpg.PostgresError, OSError) as exc:
            print(f"  (a backlog sample failed: {exc!r})", flush=True)
            continue
        for channel, n in found.items():
            run.backlog.setdefault(channel, []).append(n)


async def drain(run: Run) -> None:
    """After the window: up to DRAIN_SECONDS for what was due in it to go out — messages
    sent, calls claimed (and a moment more for their creates to reach the provider)."""
    await asyncio.gather(*run.producers)  # they end with the window (rows are added ahead)
    deadline = time.monotonic() + DRAIN_SECONDS
    end = run.t0 + run.args.seconds
    messages, calls = message_campaign_ids(run), call_campaign_ids(run)
    while time.monotonic() < deadline:
        unsent = await _unsent(run.conn, messages, end) if messages else 0
        if not unsent and not await _undialled(run.conn, calls, end):
            await asyncio.sleep(min(CREATE_GRACE, max(0.0, deadline - time.monotonic())))
            return
        await asyncio.sleep(1.0)


async def _undialled(conn: asyncpg.Connection, campaign_ids: Sequence[int], before: float) -> int:
    """Leads of these campaigns due before ``before`` and not claimed yet."""
    n = await conn.fetchval(
        """SELECT count(*) FROM leads WHERE campaign_id = ANY($1::bigint[])
           AND status IN ('PENDING', 'WAITING_RETRY') AND next_attempt_at < $2""",
        list(campaign_ids), _at(before),
    )  # fmt: skip
    return int(n)


def call_campaign_ids(run: Run) -> list[int]:
    flow = [c.id for c in run.flow.campaigns] if run.flow else []
    return ([run.call_campaign.id] if run.call_campaign else []) + flow


def message_campaign_ids(run: Run) -> list[int]:
    flow = [c.id for c in run.flow.campaigns] if run.flow else []
    return [q.campaign.id for q in run.queues] + flow


async def stop_sending(run: Run) -> None:
    """Nothing more made due or dialled once the figures are read."""
    campaigns = [run.call_campaign] if run.call_campaign else []
    campaigns += run.flow.campaigns if run.flow else []
    for campaign in campaigns:
        await set_rate(run.deploy, campaign.id, Rate(0.01, 1))


# ------------------------------------------------------------------ reading the providers


async def phone_figures(run: Run, stats: dict[str, Any]) -> ChannelFigures:
    args = run.args
    figures = ChannelFigures(
        "phone", args.calls, args.seconds, backlog=run.backlog.get("phone", [])
    )
    offset = run.offsets["sim"]
    accepted = {n: t + offset for n, t in starts_by_number(stats).items()}
    campaigns: list[tuple[int, float, int]] = []  # (first lead, rate, count)
    if run.call_campaign is not None:
        campaigns.append((run.call_first, args.calls, math.ceil(args.calls * args.seconds)))
    if run.flow is not None:
        count = math.ceil(run.flow.per_campaign * args.seconds)
        campaigns += [(f, run.flow.per_campaign, count) for f in run.flow.firsts]
    for first, rate, count in campaigns:
        attempts = await attempts_between(run.deploy, first, count)
        figures.due += count
        figures.errors += sum(a.status in NOT_SENT and a.sent_at is None for a in attempts)
        for a in attempts:
            if a.phone in accepted:
                due = run.t0 + (a.lead_id - first) / rate
                figures.latencies.append(accepted[a.phone] - due)
    figures.accepted = len(figures.latencies)
    starts = sorted(accepted.values())
    figures.accepted_in_window = in_window(starts, run.t0, args.seconds)
    figures.densest = max_in_window(starts)
    figures.refusals = sum(stats[k] for k in ("rejected_4xx", "rejected_5xx", "rejected_429"))
    figures.duplicates = stats["repeated_originations"] + stats["overlapping_calls_to_same_number"]
    figures.duplicates += max(0, stats["max_calls_per_number"] - 1)
    figures.peak_live, figures.cap = stats["peak_active"], args.cap
    if run.call_campaign is not None:
        figures.allowed = allowed_in_1s(Rate(args.calls, burst_of(args.calls, 0.2)))
    return figures


def sms_accepted(stats: dict[str, Any], offset: float) -> list[tuple[int, str, float]]:
    """(our message id, sender, accepted instant) of every SMS the simulator accepted."""
    found = []
    for sms in stats["sms"]["messages"]:
        query = parse_qs(urlsplit(sms.get("status_callback") or "").query)
        if "m" in query:
            at = datetime.fromisoformat(sms["accepted_at"]).timestamp() + offset
            found.append((int(query["m"][0]), sms["from"], at))
    return found


def email_accepted(stats: dict[str, Any], offset: float) -> list[tuple[int, str, float]]:
    found = []
    for email in stats["email"]["messages"]:
        row = message_row_id(email.get("message_id") or "")
        if row is not None:
            at = datetime.fromisoformat(email["received_at"]).timestamp() + offset
            found.append((row, "", at))
    return found


def message_figures(
    run: Run, channel: str, rows: Sequence[Row], accepted: list[tuple[int, str, float]]
) -> ChannelFigures:
    args = run.args
    rate = args.sms if channel == "sms" else args.email
    figures = ChannelFigures(channel, rate, args.seconds, backlog=run.backlog.get(channel, []))
    end = run.t0 + args.seconds
    intended = {t: d for queue in run.queues for t, d in queue.due_by_token.items()}
    # A row the harness added was due when it said; one a step decided, when it was decided.
    due_at = {r.id: intended.get(r.token, r.created_at).timestamp() for r in rows}
    due = {r.id: r for r in rows if r.channel == channel and run.t0 <= due_at[r.id] < end}
    figures.due = len(due)
    if run.flow is not None:  # one message per unanswered call: offered as the calls went
        figures.offered = round(figures.due / args.seconds, 1)
    first_seen: dict[int, float] = {}
    for message_id, _, at in accepted:
        if message_id in first_seen:
            figures.duplicates += 1
        first_seen[message_id] = min(at, first_seen.get(message_id, at))
    figures.latencies = [first_seen[i] - due_at[i] for i in due if i in first_seen]
    figures.accepted = len(figures.latencies)
    figures.claimed = [
        r.sent_at.timestamp() - due_at[r.id] for r in due.values() if r.sent_at is not None
    ]
    figures.accepted_in_window = in_window(first_seen.values(), run.t0, args.seconds)
    figures.densest = max_in_window(sorted(first_seen.values()))
    if rate:
        limit = channel_rate(args, rate)
        figures.allowed = allowed_in_1s(Rate(limit, max(1, math.ceil(limit))), send_slots=True)
    by_sender = instants((sender, at) for _, sender, at in accepted if sender)
    if by_sender:
        figures.densest_sender = max(max_in_window(v) for v in by_sender.values())
        figures.allowed_sender = allowed_in_1s(sender_rate(next(iter(by_sender))), True)
    figures.statuses = Counter(r.status for r in due.values())
    bad = ("FAILED", "UNDELIVERED", "SKIPPED", "CANCELLED")
    figures.errors = sum(figures.statuses[s] for s in bad)
    return figures


def provider_counts(channel: str, stats: dict[str, Any]) -> tuple[int, int]:
    """(duplicates, refusals) as the simulator's observer counts them."""
    if channel == "sms":
        sms = stats["sms"]
        duplicates = sms["duplicates"] + sms["repeated_status_callbacks"]
        refusals = sms["rejected_429"] + sms["rejected_4xx"] + sms["rejected_opted_out"]
        return duplicates, refusals
    email = stats["email"]
    refusals = email["recipients_refused"] + email["auth_failures"]
    return email["duplicates"] + email["missing_message_id"], refusals


# ------------------------------------------------------------------ CPU of everything


@dataclass
class Machine:
    """CPU seconds of the whole machine, and of each PostgreSQL process (every client's
    backends, not only ours; one that exits meanwhile is not counted)."""

    busy: float
    total: float
    postgres: dict[int, float]

    @classmethod
    def now(cls) -> Machine:
        times = psutil.cpu_times()
        idle = times.idle + getattr(times, "iowait", 0.0)
        postgres = {}
        for proc in psutil.process_iter(["name", "cpu_times"]):
            cpu = proc.info["cpu_times"]
            if proc.info["name"] == "postgres" and cpu is not None:
                postgres[proc.pid] = cpu.user + cpu.system
        return cls(sum(times) - idle, sum(times), postgres)

    def since(self, earlier: Machine) -> tuple[float, float]:
        """(the share of the machine busy, PostgreSQL CPU seconds) between the two."""
        share = (self.busy - earlier.busy) / max(self.total - earlier.total, 1e-9)
        postgres = sum(t - earlier.postgres.get(pid, 0.0) for pid, t in self.postgres.items())
        return share, postgres


def print_dialer_functions(folder: Path, top: int = 14) -> None:
    """Each profiled process's busiest functions of Dialer's own, counting every sample whose
    stack goes through them (inclusive), as a share of the process's samples."""
    for path in sorted(folder.glob("*.txt")):
        shares: Counter[str] = Counter()
        total = 0
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            total += int(count)
            for name in {_dialer_frame(f) for f in stack.split(";")} - {""}:
                shares[name] += int(count)
        print(f"  {path.stem}: Dialer's functions (inclusive), of {total} samples")
        for name, n in shares.most_common(top):
            print(f"    {n / max(total, 1):5.1%} {name}")


def _dialer_frame(frame: str) -> str:
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    if not path.startswith("dialer/") or path.startswith("dialer/cli/"):
        return ""
    return f"{name} ({path.removeprefix('dialer/')})"


def log_errors(logs: Path) -> Counter[str]:
    """Records at level error in Dialer's processes' logs so far (JSON lines), by process
    and the start of their event."""
    found: Counter[str] = Counter()
    for path in sorted(logs.glob("*.log")):
        if path.stem.startswith(DIALER_KINDS):
            for line in path.read_text(errors="replace").splitlines():
                if '"level": "error"' in line:
                    event = json.loads(line).get("event", "")
                    found[f"{path.stem}: {event.splitlines()[0][:110]}"] += 1
    return found


# ------------------------------------------------------------------ the whole run


async def measure(run: Run) -> list[ChannelFigures]:
    args, deploy = run.args, run.deploy
    await deploy.sim_reset()
    await reset(run.mail_url)
    hooks_before = await deploy.webhook_histogram()
    cpu_before, kinds_before, machine_before = (
        run.sampler.dialer_cpu(), run.sampler.cpu_by_kind(), Machine.now()
    )  # fmt: skip
    loads = [os.getloadavg()[0]]
    harness_before, started = _own_cpu(), time.monotonic()
    await start_window(run)
    profile = Path(deploy.logs) / "profile" if args.profile else None
    profilers = start_profilers(deploy, profile, args.seconds) if profile else []
    await watch(run)
    await drain(run)
    run.sampler.sample()
    cpu = run.sampler.dialer_cpu() - cpu_before
    kinds = {k: v - kinds_before.get(k, 0.0) for k, v in run.sampler.cpu_by_kind().items()}
    busy, postgres = Machine.now().since(machine_before)
    loads.append(os.getloadavg()[0])
    elapsed, harness = time.monotonic() - started, _own_cpu() - harness_before
    await stop_sending(run)
    for process in profilers:
        process.wait(timeout=120)
    figures = await read_figures(run)
    hooks = (await deploy.webhook_histogram()).minus(hooks_before)
    usage = Usage(elapsed, cpu, kinds, busy, postgres, harness, loads)
    report(run, figures, usage, hooks)
    if profile:
        print_profile(profile)
        print_dialer_functions(profile)
    return figures


async def read_figures(run: Run) -> list[ChannelFigures]:
    stats = await run.deploy.sim_stats()
    mail = await stats_of(run.mail_url)
    figures = [await phone_figures(run, stats)] if run.args.calls else []
    rows = await message_rows(run.conn, message_campaign_ids(run))
    for channel, accepted, source in (
        ("sms", sms_accepted(stats, run.offsets["sim"]), stats),
        ("email", email_accepted(mail, run.offsets["mail"]), mail),
    ):
        rate = run.args.sms if channel == "sms" else run.args.email
        if rate:
            found = message_figures(run, channel, rows, accepted)
            duplicates, refusals = provider_counts(channel, source)
            found.duplicates += duplicates
            found.refusals = refusals
            if refusals:
                counted = {k: v for k, v in source[channel].items() if isinstance(v, int) and v}
                print(f"  {channel} at the provider: {counted}")
            figures.append(found)
            print(f"  {channel} rows due in the window by status: {dict(found.statuses)}")
    return figures


@dataclass(frozen=True)
class Usage:
    seconds: float  # the window and the drain, measured
    dialer: float  # CPU seconds of Dialer's processes
    kinds: dict[str, float]  # CPU seconds by kind of supervised process
    busy: float  # the machine's busy share
    postgres: float  # CPU seconds of PostgreSQL (every client's)
    harness: float  # CPU seconds of this process (the producers of message rows among it)
    loads: Sequence[float]  # 1-minute load average at the start and the end


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def report(run: Run, figures: Sequence[ChannelFigures], usage: Usage, hooks: Histogram) -> None:
    print(HEADER)
    for found in figures:
        print(found.row())
    items = {f.channel: f.accepted for f in figures}
    total = sum(items.values())
    messages = sum(n for channel, n in items.items() if channel != "phone")
    print(
        f"CPU of Dialer's processes over the window and the drain ({usage.seconds:.0f} s): "
        f"{usage.dialer:.1f} s = {usage.dialer / max(total, 1) * 1000:.1f} ms per item "
        f"(calls + messages accepted: {total:,}; messages {messages:,})"
    )
    kinds = ", ".join(f"{k} {v:.1f}" for k, v in sorted(usage.kinds.items()))
    print(f"  by process kind (s): {kinds}; this harness {usage.harness:.1f}")
    print(
        f"  machine busy {usage.busy:.0%} of its {os.cpu_count()} cores; PostgreSQL (every "
        f"client's) {usage.postgres:.1f} s; load average {usage.loads[0]:.1f} → "
        f"{usage.loads[-1]:.1f}"
    )
    for queue in run.queues:
        late = percentile(queue.late, 99) if queue.late else math.nan
        print(
            f"  {queue.channel} rows enqueued {queue.enqueued:,} ({len(queue.senders) or 1} "
            f"sender(s), through the {queue.via}); a chunk's first row added after its due "
            f"instant, p99: {late * 1000:,.0f} ms (negative: ahead)"
        )
    for found in figures:
        if found.cap:
            print(f"  peak live calls † {found.peak_live} of the cap {found.cap}")
    connections = run.backlog.get("connections") or [0]
    print(f"  PostgreSQL connections to the run's database, most seen: {max(connections)}")
    p99 = ms(hooks.quantile_bound(0.99))
    p99 = p99 if p99.startswith((">", "—")) else f"≤ {p99}"
    print(f"webhooks: {int(hooks.count):,} answered, p99 {p99} ms, non-2xx {int(hooks.errors())}")
    errors = log_errors(run.deploy.logs)
    print("errors in Dialer's logs: " + ("none" if not errors else ""))
    for event, n in errors.most_common(8):
        print(f"  {n} × {event}")


async def main() -> int:
    args = parse()
    smtp_port, mail_http = free_port(), free_port()
    env = {
        "DIALER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "DIALER_SMTP_POOL_SIZE": str(args.smtp_pool),
    }
    if args.sms:
        env["DIALER_SMS_RATE_PER_SECOND"] = f"{channel_rate(args, args.sms):g}"
    if args.email:
        env["DIALER_EMAIL_RATE_PER_SECOND"] = f"{channel_rate(args, args.email):g}"
    topology = Topology(
        dispatchers=args.dispatchers,
        workers=args.workers,
        listeners=args.listeners,
        redis_port=args.redis_port,
        env=env,
    )
    sim = simulator_config(
        sms_mps=3.0 if args.toll_free else 100.0,  # what the carrier allows one sender
        sms_delay_min=0.1,
        sms_delay_max=0.3,
        sms_outcome_mix={"delivered": 1.0},
        **({"outcome_mix": {"no_answer": 1.0}} if args.source == "campaign" else {}),
    )
    print(
        f"channels ({args.source}): calls {args.calls:g}/s, SMS {args.sms:g}/s, email "
        f"{args.email:g}/s for {args.seconds:g} s (deployment-wide SMS and email rates "
        f"{args.rate_factor:g}× that); {args.dispatchers} dispatchers, "
        f"{args.workers} workers, {args.listeners} listeners; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; code: {code_version()}",
        flush=True,
    )
    async with deployment(topology, sim, "channels") as deploy:
        sampler = ProcessSampler(deploy.supervisor)
        sampler.start()
        try:
            mail_url = start_mail(deploy, mail_http, smtp_port)
            offsets = await clock_offsets(deploy, mail_url, smtp_port)
            run = Run(args, deploy, sampler, mail_url, offsets)
            run.conn = await asyncpg.connect(deploy.database_url)
            try:
                await prepare(run)
                figures = await measure(run)
            finally:
                await run.conn.close()
        finally:
            await sampler.stop()
            print(f"process logs: {deploy.logs}; {machine()}")
    return verdict(figures)


def code_version() -> str:
    """The commit, and how many files under src/ differ from it (others edit it meanwhile)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", "src"], capture_output=True, text=True
    )
    dirty = len(changed.stdout.splitlines())
    return f"{head.stdout.strip()}" + (f" + {dirty} files changed under src/" if dirty else "")


async def clock_offsets(deploy: Deployment, mail_url: str, smtp_port: int) -> dict[str, float]:
    sim, sim_error = await sms_clock_offset(deploy.sim_url)
    mail, mail_error = await mail_clock_offset(mail_url, smtp_port)
    print(
        f"simulators' clocks, to add to their instants: calls and SMS {sim * 1000:+.1f} ms "
        f"(± {sim_error * 1000:.1f}), email {mail * 1000:+.1f} ms (± {mail_error * 1000:.1f})",
        flush=True,
    )
    return {"sim": sim, "mail": mail}


def verdict(figures: Sequence[ChannelFigures]) -> int:
    duplicates = {f.channel: f.duplicates for f in figures if f.duplicates}
    over = [f.channel for f in figures if f.allowed and f.densest > f.allowed]
    over += [
        f"{f.channel} sender"
        for f in figures
        if f.allowed_sender and f.densest_sender > f.allowed_sender
    ]
    over += [
        f"live calls {f.peak_live} > cap {f.cap}" for f in figures if f.cap and f.peak_live > f.cap
    ]
    slo = {f.channel: "met" if f.met else "missed" for f in figures}
    print(f"SLOs (p95): {slo}")
    print("duplicates: " + (json.dumps(duplicates) if duplicates else "none"))
    print("over a limit: " + (", ".join(over) if over else "none"))
    return 1 if duplicates or over else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "mail":
        with contextlib.suppress(KeyboardInterrupt):
            _run_mail(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(asyncio.run(main()))

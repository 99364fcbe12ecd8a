"""SMS steps sent by real `dialer dispatcher` processes, counted from the provider's side: the
simulator lists every message it accepted and counts each (To, From, Body) seen twice.

Every process is real (PostgreSQL, Redis admission and broker, a Celery worker for the calls,
a webhook listener for the call and message callbacks); every call goes unanswered, and the
SMS step after it (`when: [no_answer]`), from a short code (100 messages a second, paced at
90), goes to every lead. Messages are sent by the dispatchers themselves, beside the calls
(services/message_dispatch.py), one batch of up to 200 in flight per dispatcher.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dialer.adapters.clock import ManualClock
from dialer.adapters.store.message_tables import messages
from dialer.bootstrap import Runtime, open_runtime
from dialer.cli.simproc import simulator_process
from dialer.cli.supervise import free_port, wait_for_port
from dialer.domain.channels import Channel, MessageStep
from dialer.domain.model import Campaign, Rate
from dialer.domain.statuses import DUE_LEAD, MessageStatus
from dialer.ports import ContactDraft, Store
from dialer.services.campaigns import pause_campaign, start_campaign
from dialer.services.heartbeat import cluster_status
from dialer.services.message_events import UNKNOWN_AFTER, settle_messages
from dialer.services.message_sending import SEND_CONCURRENCY
from tests.support.cluster import (
    Cluster,
    campaign_done,
    drafts,
    running_campaign,
    simulator_stats,
)
from tests.support.polling import until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SENDER = "12345"  # a short code
LEADS = 240  # more than one batch (200)
BODY = "We missed you. Reply STOP to opt out."
# Simulated seconds at x10: every call rings its 10 s (1 real second) unanswered.
SIM_ARGS = ["--speed", "10", "--cps", "1000", "--seed", "21", "--outcomes", "no_answer=1"]
SMS_CONFIG = {
    "sms_mps": 1000.0,  # the provider never refuses: what is counted is what we sent
    "sms_outcome_mix": {"delivered": 1.0},
    "sms_delay_min": 1.0,
    "sms_delay_max": 2.0,
}


# Test B: the SMS step waits this long after the call, long enough for every lead to be
# dialled, and the campaign paused, before the first message is due; and it has a rate of its
# own, so that a batch takes seconds to send (a claimed message waits up to MAX_SEND_WAIT,
# 5 s, for its slot) and the kill lands in the middle of one.
AFTER = 10
STEP_RATE = Rate(20.0, 5)


@pytest.fixture
def broker() -> str:
    """The broker carries the calls only (messages leave from the dispatchers): one is enough."""
    return "redis"


async def test_three_dispatchers_send_each_message_once(cluster: Cluster) -> None:
    """Three dispatchers tick at once, each claiming the due messages (SKIP LOCKED) as the
    calls end, and sending them on the short code's shared send slots (Redis). The provider
    sees each lead's message exactly once."""
    with simulator_process(SIM_ARGS) as sim_url:
        await configure_sms(sim_url)
        start_listener_and_worker(cluster, sim_url)
        dispatchers = [f"dispatcher-{n}" for n in range(1, 4)]
        for name in dispatchers:
            cluster.start(name, "dispatcher", "--name", name)
        async with open_runtime(cluster.settings()) as runtime:
            campaign = await sms_campaign(runtime)
            await until(
                lambda: campaign_done(runtime.store, campaign.id),
                90,
                "the campaign completed",
                every=0.25,
                alive=alive(cluster),
            )
            rows = await message_rows(runtime.store)
            beating = await dispatchers_beating(runtime.store)
        stats = (await simulator_stats(sim_url))["sms"]

    print(f"\n{stats['messages_accepted']} SMS accepted; dispatchers beating: {beating}")
    assert beating == set(dispatchers)  # all three up to the end; each tick claims messages
    assert stats["messages_accepted"] == LEADS
    assert stats["duplicates"] == 0
    assert stats["duplicate_messages"] == []
    assert stats["repeated_status_callbacks"] == 0  # one send per message id, whatever its body
    assert sorted(sent_pairs(stats)) == sorted((d.phone, SENDER) for d in contacts())
    assert len(rows) == LEADS
    assert {row["status"] for row in rows} == {MessageStatus.DELIVERED.value}
    assert all(row["settled_at"] is not None for row in rows)


async def test_a_dispatcher_killed_mid_batch_never_sends_a_message_twice(
    cluster: Cluster,
) -> None:
    """The campaign is held (paused) until every lead's message is due, then resumed: the
    doomed dispatcher's first claim takes a full batch (200), leased (still PENDING, due again
    when the lease runs out), and it is killed (SIGKILL) once the provider has taken some of
    them. Only the messages whose sent marker (SENDING) it had committed, each just before its
    request, are in doubt: those the provider took are settled by their status callbacks (they
    name our message id); the heir sends the 40 messages the dead one never claimed at once,
    and the leased ones when their lease runs out, and never one left SENDING.

    Those stay SENDING until the stuck-message sweep gives up on them, UNKNOWN_AFTER (10 min)
    after their send on the dispatcher's clock. `dialer dispatcher` runs on the wall clock
    only (no scaled clock), so that sweep is run here, in this process, on a clock set just
    past the kill plus UNKNOWN_AFTER: the sweep a dispatcher would run then. Everything else
    is observed live, within the test's bounded waits."""
    with simulator_process(SIM_ARGS) as sim_url:
        await configure_sms(sim_url)
        start_listener_and_worker(cluster, sim_url)
        cluster.start("doomed", "dispatcher", "--name", "doomed")
        async with open_runtime(cluster.settings()) as runtime:
            store = runtime.store
            campaign = await sms_campaign(runtime, after=AFTER, rate=STEP_RATE)
            await hold_messages_until_due(runtime, campaign, alive(cluster))
            await start_campaign(runtime.services, campaign.id)

            async def in_flight() -> bool:
                sending = await status_counts(store)
                accepted = (await simulator_stats(sim_url))["sms"]["messages_accepted"]
                return sending.get(MessageStatus.SENDING.value, 0) > 0 and accepted > 0

            await until(in_flight, 20, "a batch in flight", every=0.02, alive=alive(cluster))
            cluster.supervisor.kill("doomed", signal.SIGKILL)
            killed_at = datetime.now(UTC)
            at_kill = await message_rows(store)
            accepted_at_kill = (await simulator_stats(sim_url))["sms"]["messages_accepted"]
            cluster.start("heir", "dispatcher", "--name", "heir")

            async def only_the_orphans_left() -> bool:
                rows = await message_rows(store)
                return all(row["settled_at"] or orphaned(row, killed_at) for row in rows)

            await until(
                only_the_orphans_left,
                60,
                "every message settled but the dead one's",
                every=0.25,
                alive=alive(cluster),
            )
            orphans = {row["id"] for row in await message_rows(store) if orphaned(row, killed_at)}
            later = dataclasses.replace(
                runtime.services,
                clock=ManualClock(killed_at + UNKNOWN_AFTER + timedelta(seconds=1)),
            )
            settled_late = await settle_messages(later)
            await until(
                lambda: campaign_done(store, campaign.id),
                30,
                "the campaign completed",
                every=0.25,
                alive=alive(cluster),
            )
            rows = await message_rows(store)
        stats = (await simulator_stats(sim_url))["sms"]

    sending_at_kill = {r["id"] for r in at_kill if r["status"] == MessageStatus.SENDING.value}
    leased_at_kill = {r["id"] for r in at_kill if leased(r, killed_at)}
    sent = set(sent_pairs(stats))
    failed = [row for row in rows if row["status"] == MessageStatus.FAILED.value]
    delivered = [row for row in rows if row["status"] == MessageStatus.DELIVERED.value]
    print(
        f"\nat the kill: {len(leased_at_kill)} leased, {len(sending_at_kill)} SENDING, "
        f"{accepted_at_kill} accepted; after: {stats['messages_accepted']} accepted, "
        f"{len(orphans)} given up, "
        f"{sum(row['id'] in sending_at_kill for row in delivered)} settled by their callbacks"
    )
    assert stats["duplicates"] == 0
    assert stats["duplicate_messages"] == []
    assert stats["repeated_status_callbacks"] == 0
    assert stats["messages_accepted"] <= LEADS
    assert len(sent) == stats["messages_accepted"]
    # The kill interrupted a batch: some of it had reached the provider, much had not.
    assert accepted_at_kill > 0
    assert leased_at_kill
    # Only a message whose marker was committed can be in doubt: at most the sends in flight
    # (the sender's concurrency), not the batch.
    assert orphans <= sending_at_kill
    assert len(sending_at_kill) <= SEND_CONCURRENCY
    assert settled_late == len(orphans)
    # Every message ended once: delivered (sent once), or given up on (never sent at all).
    assert len(rows) == LEADS
    assert all(row["settled_at"] is not None for row in rows)
    assert len(failed) + len(delivered) == LEADS
    assert {row["id"] for row in failed} == orphans
    assert all(row["error"].startswith("outcome unknown") for row in failed)
    assert {(row["to_address"], row["sender"]) for row in failed}.isdisjoint(sent)
    assert {(row["to_address"], row["sender"]) for row in delivered} == sent
    # What the dead one held but had not started, the heir sent once its lease ran out.
    by_id = {row["id"]: row for row in rows}
    assert all(by_id[i]["status"] == MessageStatus.DELIVERED.value for i in leased_at_kill)
    assert all(by_id[i]["sent_at"] >= killed_at for i in leased_at_kill)


# ------------------------------------------------------------------ the deployment


async def configure_sms(sim_url: str) -> None:
    async with httpx.AsyncClient(base_url=sim_url) as client:
        (await client.post("/_sim/config", json=SMS_CONFIG)).raise_for_status()


def start_listener_and_worker(cluster: Cluster, sim_url: str) -> None:
    """The webhook listener (every callback's public base), then a worker for the calls."""
    listen = f"127.0.0.1:{free_port()}"
    cluster.sim_url = sim_url
    cluster.webhook_base = f"http://{listen}"
    cluster.start("webhooks", "webhooks", "--name", "webhooks", "--listen", listen)
    cluster.start_worker("worker")
    host, port = listen.split(":")
    assert wait_for_port(host, int(port), 30), cluster.log("webhooks")[-3000:]


async def hold_messages_until_due(
    runtime: Runtime, campaign: Campaign, alive: Callable[[], None]
) -> None:
    """Pause the campaign once all its leads are dialled (a paused campaign's messages are
    not claimed; its calls in flight go on), wait for every lead's message, then until the
    last is due: resumed, the campaign's messages are all due at once."""

    async def all_dialled() -> bool:
        return not await leads_due(runtime.store, campaign.id)

    async def all_queued() -> bool:
        return len(await message_rows(runtime.store)) == LEADS

    await until(all_dialled, 60, "every lead dialled", every=0.05, alive=alive)
    await pause_campaign(runtime.services, campaign.id)
    await until(all_queued, 60, "a message queued for every lead", alive=alive)
    queued = await message_rows(runtime.store)
    early = [row for row in queued if row["status"] != MessageStatus.PENDING.value]
    assert not early, f"{len(early)} messages claimed before the campaign paused: AFTER too short"
    due = max(row["due_at"] for row in queued)
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.2)


async def leads_due(store: Store, campaign_id: int) -> int:
    async with store.unit() as uow:
        counts = await uow.views.lead_counts(campaign_id)
    return sum(n for status, n in counts.items() if status in DUE_LEAD)


def alive(cluster: Cluster) -> Callable[[], None]:
    """A check that fails, with the end of its log, once any process of the test has died
    (except one killed on purpose)."""

    def check() -> None:
        for name in cluster.supervisor.names:
            if name != "doomed" and not cluster.supervisor.alive(name):
                raise AssertionError(f"{name} died:\n{cluster.log(name)[-3000:]}")

    return check


async def sms_campaign(runtime: Runtime, after: int = 0, rate: Rate | None = None) -> Campaign:
    """A running campaign of LEADS leads, with its SMS step from the short code. Its cap (100,
    the deployment's default campaign cap) dials them in 3 rounds of a second's ring."""
    step = MessageStep(
        Channel.SMS, BODY, when=frozenset({"no_answer"}), sender=SENDER, rate=rate, after=after
    )
    return await running_campaign(
        runtime.services, "sms", contacts(), steps=(step,), max_concurrency=100
    )


def contacts() -> list[ContactDraft]:
    return drafts(LEADS)


def sent_pairs(stats: dict[str, Any]) -> list[tuple[str, str]]:
    assert all(message["body"] == BODY for message in stats["messages"])
    return [(message["to"], message["from"]) for message in stats["messages"]]


# ------------------------------------------------------------------ reading the store


async def message_rows(store: Store) -> list[dict[str, Any]]:
    async with store.unit() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        result = await conn.execute(select(messages).order_by(messages.c.id))
        return [dict(row._mapping) for row in result]


async def status_counts(store: Store) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in await message_rows(store):
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def leased(row: dict[str, Any], killed_at: datetime) -> bool:
    """Claimed by the dead dispatcher and not started: PENDING, due again when its lease runs
    out (every message was due before the campaign was resumed)."""
    return row["status"] == MessageStatus.PENDING.value and row["due_at"] > killed_at


def orphaned(row: dict[str, Any], killed_at: datetime) -> bool:
    """Left SENDING by the dead dispatcher: marked before the kill, never heard of since."""
    sent_at = row["sent_at"]
    sending = row["status"] == MessageStatus.SENDING.value
    return sending and sent_at is not None and sent_at <= killed_at


async def dispatchers_beating(store: Store) -> set[str]:
    status = await cluster_status(store, None, 100, 60)
    beating = [n.beat for n in status.nodes if n.beat.kind == "dispatcher" and n.alive]
    return {beat.node.split("@")[0] for beat in beating}

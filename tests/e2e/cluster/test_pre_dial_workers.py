"""The pre-dial hook asked by Celery workers, each its own process, on PostgreSQL and Redis
admission: every admitted call asks the hook once per send, what it cancels never rings, what
it lets through rings once with the caller id it chose, and every lease comes back."""

from __future__ import annotations

from typing import Any

import pytest

from dialer.adapters.executor.celery_executor import CeleryExecutor
from dialer.bootstrap import open_runtime
from dialer.cli.simproc import simulator_process
from dialer.domain.pre_dial import OnError, PreDialHook
from dialer.runner import webhook_listener
from tests.support.cluster import (
    Cluster,
    alive,
    attempts_of,
    campaign_done,
    dispatch_until,
    drafts,
    running_campaign,
    simulator_stats,
)
from tests.support.webhook_receiver import running_receiver, subscribe_receiver

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SIM_ARGS = ["--speed", "20", "--cps", "1000", "--seed", "3", "--talk-mean", "10"]
POOL = ("+14155550100", "+14155550122")


async def test_workers_ask_the_hook_and_follow_its_answers(cluster: Cluster) -> None:
    cluster.share(webhook_allow_http="true", webhook_allow_private="true")
    people = drafts(16)
    cancelled = {p.phone for p in people[::4]}

    def answer(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["data"]["to"] in cancelled:
            return {"action": "cancel", "reason": "do not call today"}
        return {"action": "proceed", "caller_id": POOL[1]}

    with simulator_process(SIM_ARGS) as sim_url:
        cluster.sim_url = sim_url
        async with (
            running_receiver() as receiver,
            open_runtime(cluster.settings()) as runtime,
            webhook_listener(runtime, "127.0.0.1", 0) as port,
        ):
            assert isinstance(runtime.executor, CeleryExecutor)
            runtime.services.webhook_base = f"http://127.0.0.1:{port}"
            services = runtime.services
            receiver.otherwise = answer
            hook = PreDialHook(receiver.url, 2.0, OnError.SKIP)
            # Started before any worker runs: nothing is sent until the endpoint is there.
            campaign = await running_campaign(
                services, "hooked", people, max_concurrency=4, caller_ids=POOL, pre_dial=hook
            )
            events = ["attempt.pre_dial"]
            await subscribe_receiver(services, campaign.tenant_id, receiver, events)
            cluster.start_worker("one")
            cluster.start_worker("two")

            def both_alive() -> None:
                alive(cluster, "one")()
                alive(cluster, "two")()

            await dispatch_until(
                runtime,
                lambda: campaign_done(runtime.store, campaign.id),
                90,
                "the campaign done",
                alive=both_alive,
            )
            rows = await attempts_of(runtime.store, campaign.id)
            headroom = await services.admission.headroom(services.scope(campaign))
        stats = await simulator_stats(sim_url)

    assert receiver.refused == []
    asked = [p["data"]["to"] for p in receiver.received_payloads()]
    assert sorted(set(asked)) == sorted(p.phone for p in people)
    placed = {c["to"]: c["from"] for c in stats["calls_placed"]}
    assert set(placed) == {p.phone for p in people} - cancelled
    assert set(placed.values()) == {POOL[1]}
    assert stats["max_calls_per_number"] == 1
    assert stats["peak_active"] <= 4
    assert stats["repeated_originations"] == 0
    skipped = [r for r in rows if r["phone"] in cancelled]
    assert {r["status"] for r in skipped} == {"CANCELED"}
    assert headroom == 4  # every lease back

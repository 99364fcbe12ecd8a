"""Celery workers send the dispatcher's batches, on Redis and on RabbitMQ as the broker:
higher-priority campaigns first, a routed campaign only by the workers of its queue, every
call once, and the workers' heartbeats counting what they did."""

from __future__ import annotations

import pytest

from dialer.adapters.executor.celery_executor import CeleryExecutor
from dialer.bootstrap import open_runtime
from dialer.cli.simproc import simulator_process
from dialer.runner import webhook_listener
from dialer.services.heartbeat import cluster_status
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

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SIM_ARGS = ["--speed", "20", "--cps", "1000", "--seed", "3", "--talk-mean", "10"]


async def test_workers_send_by_priority_and_route(cluster: Cluster) -> None:
    special = f"{cluster.queue}-special"
    cluster.extra_queues.append(special)
    cluster.share(queue_routes=f"campaign:routed={special}")
    with simulator_process(SIM_ARGS) as sim_url:
        cluster.sim_url = sim_url
        settings = cluster.settings(task_batch_size=2)
        async with (
            open_runtime(settings) as runtime,
            webhook_listener(runtime, "127.0.0.1", 0) as port,
        ):
            assert isinstance(runtime.executor, CeleryExecutor)
            runtime.services.webhook_base = f"http://127.0.0.1:{port}"
            services = runtime.services
            low = await running_campaign(services, "low", drafts(6, "+1212"), priority=10)
            high = await running_campaign(services, "high", drafts(6, "+1312"), priority=90)
            routed = await running_campaign(services, "routed", drafts(4, "+1415"))

            async def all_queued() -> bool:
                async with runtime.store.unit() as uow:
                    return await uow.views.live_attempts() == 16

            # Every call is handed out before any worker runs: the tasks wait in the queues.
            assert await dispatch_until(runtime, all_queued, 20, "16 calls queued") == 16
            cluster.start_worker("plain", worker_in_flight=1)

            async def main_done() -> bool:
                return await campaign_done(runtime.store, low.id) and await campaign_done(
                    runtime.store, high.id
                )

            await dispatch_until(
                runtime, main_done, 40, "low and high done", alive=alive(cluster, "plain")
            )
            waiting = await attempts_of(runtime.store, routed.id)
            cluster.start_worker("special", "--queues", special)
            await dispatch_until(
                runtime,
                lambda: campaign_done(runtime.store, routed.id),
                40,
                "routed done",
                alive=alive(cluster, "special"),
            )
            status = await cluster_status(runtime.store, None, 100, 0.5)
            sent = {c.name: await attempts_of(runtime.store, c.id) for c in (low, high, routed)}
        stats = await simulator_stats(sim_url)

    # The plain worker took the high-priority campaign's tasks first, one at a time.
    last_high = max(row["sent_at"] for row in sent["high"])
    first_low = min(row["sent_at"] for row in sent["low"])
    assert last_high < first_low
    # The routed campaign waited, unsent, until a worker of its queue came.
    assert len(waiting) == 4
    assert all(row["sent_at"] is None for row in waiting)
    assert all(row["sent_at"] is not None for rows in sent.values() for row in rows)
    # Every call once, as the provider saw it.
    assert stats["calls_created"] == 16
    assert stats["repeated_originations"] == 0
    assert stats["overlapping_calls_to_same_number"] == 0
    processed = {n.beat.node.split("@")[0]: n.beat.processed for n in status.nodes}
    assert processed == {"plain": 12, "special": 4}

"""A worker killed (SIGKILL, with its pool) in the middle of a batch, on Redis and on
RabbitMQ as the broker. Its task was not acknowledged, so the broker delivers it to another
worker; the calls the dead one had started are not made again (their sent markers are set),
the others are made once; and with every callback lost, the calls are settled from the
provider — the ones the dead worker never heard back about included. No lease is left."""

from __future__ import annotations

import pytest

from dialer.adapters.admission.redis import RedisAdmission
from dialer.bootstrap import open_runtime
from dialer.cli.simproc import simulator_process
from dialer.domain.statuses import TERMINAL_ATTEMPT, AttemptStatus
from dialer.ports import Store
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
from tests.support.polling import until
from tests.support.redis import REDIS_URL

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CALLS = 12
IN_FLIGHT = 4  # the dead worker's requests in flight when it is killed
# Simulated seconds at x10: a create is answered 2 s after the call starts, and no callback
# ever arrives: only a lookup can settle a call.
SIM_ARGS = ["--speed", "10", "--cps", "1000", "--seed", "8", "--talk-mean", "10"]
SIM_ARGS += ["--response-delay", "20", "--lost-callback-rate", "1"]


async def test_a_worker_killed_mid_batch(cluster: Cluster) -> None:
    with simulator_process(SIM_ARGS) as sim_url:
        cluster.sim_url = sim_url
        cluster.share(task_batch_size=CALLS, quiet_call_seconds=1, housekeeping_seconds=0.5)
        settings = cluster.settings()
        async with open_runtime(settings) as runtime:
            store = runtime.store
            cluster.start_worker("doomed", worker_in_flight=IN_FLIGHT)
            await until(
                lambda: _beating(store, "doomed"),
                20,
                "first worker up",
                alive=alive(cluster, "doomed"),
            )
            campaign = await running_campaign(runtime.services, "crash", drafts(CALLS))

            async def dead_one_in_flight() -> bool:
                return (await simulator_stats(sim_url))["calls_created"] >= IN_FLIGHT

            await dispatch_until(runtime, dead_one_in_flight, 20, "first calls in flight")
            cluster.supervisor.kill("doomed")  # SIGKILL to the worker and its pool
            marked_then = await attempts_of(store, campaign.id)
            cluster.start_worker("heir", "--queues", f"{cluster.queue},{cluster.queue}.maintenance")
            cluster.start("beat", "beat")
            await dispatch_until(
                runtime,
                lambda: campaign_done(store, campaign.id),
                60,
                "campaign done after the kill",
                alive=alive(cluster, "heir"),
            )
            attempts = await attempts_of(store, campaign.id)
            # Heartbeats are periodic: the heir's next one carries the batch it ran.
            await until(lambda: _heir_processed(store, CALLS), 5, "the heir's beat")
        stats = await simulator_stats(sim_url)
    admission = RedisAdmission.from_url(REDIS_URL, namespace=cluster.namespace)
    try:
        usage = await admission.usage()
    finally:
        await admission.aclose()

    orphaned = [row for row in marked_then if row["sent_at"] and not row["provider_call_id"]]
    assert len(orphaned) == IN_FLIGHT  # sent by the dead worker, never heard back
    assert stats["calls_created"] == CALLS  # each call once: none of the 4 made again
    assert stats["repeated_originations"] == 0
    assert stats["callbacks_sent"] == 0
    assert len(attempts) == CALLS
    assert all(AttemptStatus(row["status"]) in TERMINAL_ATTEMPT for row in attempts)
    assert all(row["provider_call_id"] for row in attempts)  # the orphans adopted by lookup
    assert usage.global_active == 0


async def _heir_processed(store: Store, count: int) -> bool:
    """The heir ran the whole batch: it was delivered again after the kill."""
    nodes = (await cluster_status(store, None, 100, 60)).nodes
    return sum(n.beat.processed for n in nodes if n.beat.node.startswith("heir@")) == count


async def _beating(store: object, name: str) -> bool:
    status = await cluster_status(store, None, 100, 60)  # type: ignore[arg-type]
    return any(n.beat.node.startswith(f"{name}@") for n in status.nodes)

"""Housekeeping settles what crashes and lost messages leave behind, without guessing:
attempts never handed to a worker are withdrawn (and a late task for them sends nothing),
calls whose callbacks were lost are settled from the provider, and heartbeats of processes
long gone are pruned. Then ``dialer status`` shows the processes and the capacity in use."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from dialer.cli.main import app
from dialer.domain.statuses import TERMINAL_ATTEMPT, AttemptStatus, LeadStatus
from dialer.ports import NodeBeat
from dialer.ports.jobs import JobOutcome, job_payload
from dialer.services.batches import run_batch
from dialer.services.heartbeat import Heartbeat, cluster_status, prune_heartbeats, wall_now
from dialer.services.housekeeping import UNSENT_CAUSE, resolve_quiet_calls, withdraw_unsent
from dialer.services.retrying import OwnCallsOnly
from tests.support.cluster import POLICY, attempts_of, drafts, queued_jobs
from tests.support.engine import EngineFactory, sim_config
from tests.support.polling import until


async def test_attempts_never_handed_over_are_withdrawn(engine: EngineFactory) -> None:
    async with engine() as e:
        services = e.runtime.services
        campaign, jobs = await queued_jobs(e, 3)
        too_young = await withdraw_unsent(services, grace=3600, limit=100)
        withdrawn = await withdraw_unsent(services, grace=0.0, limit=100)
        late = await run_batch(services, [job_payload(j) for j in jobs], POLICY)
        attempts = await attempts_of(e.store, campaign.id)
        async with e.store.unit() as uow:
            leads = await uow.views.lead_counts(campaign.id)
        usage = await services.admission.usage()
        stats = await e.stats()
    assert (too_young, withdrawn) == (0, 3)
    assert late.outcomes == {JobOutcome.SKIPPED.value: 3}  # the tasks turned up after all
    assert stats["calls_created"] == 0
    assert {row["hangup_cause"] for row in attempts} == {UNSENT_CAUSE}
    assert leads == {LeadStatus.PENDING: 3}
    assert usage.global_active == 0


async def test_calls_whose_callbacks_were_lost_are_settled_from_the_provider(
    engine: EngineFactory,
) -> None:
    async with engine(sim=sim_config(lost_callback_rate=1.0)) as e:
        services = e.runtime.services
        campaign, jobs = await queued_jobs(e, 4)
        await run_batch(services, [job_payload(j) for j in jobs], POLICY)
        for _ in range(300):  # every call ended at the provider, unheard of here
            if (await e.stats())["active_now"] == 0:
                break
            await asyncio.sleep(0.02)
        before = await attempts_of(e.store, campaign.id)
        e.clock.start += timedelta(seconds=70)  # 70 s on the engine's clock without news
        resolved = await resolve_quiet_calls(services, quiet=60, limit=100)
        again = await resolve_quiet_calls(services, quiet=60, limit=100)
        after = await attempts_of(e.store, campaign.id)
        async with e.store.unit() as uow:
            leads = await uow.views.lead_counts(campaign.id)
        usage = await services.admission.usage()
        stats = await e.stats()
    assert stats["callbacks_lost"] > 0
    assert {row["status"] for row in before} == {AttemptStatus.INITIATED.value}
    assert (resolved, again) == (4, 0)
    assert all(AttemptStatus(row["status"]) in TERMINAL_ATTEMPT for row in after)
    assert sum(stats["outcomes"].values()) == 4
    assert sum(leads.values()) == 4
    assert LeadStatus.DIALING not in leads
    assert usage.global_active == 0


def _beat(name: str, age: float, rate: float) -> NodeBeat:
    now = wall_now()
    return NodeBeat(
        name, "worker", "w1@host", "host", 1, now, now - timedelta(seconds=age), 10, 0, rate
    )


async def test_heartbeats_show_who_is_alive_and_old_ones_are_pruned(engine: EngineFactory) -> None:
    async with engine() as e:
        heartbeat = Heartbeat("dispatcher", "d1@host", interval=0.5)
        await heartbeat.beat(e.store)
        heartbeat.count(processed=30, failed=1)
        await asyncio.sleep(0.2)
        second = await heartbeat.beat(e.store)
        async with e.store.unit() as uow:
            await uow.cluster.save_heartbeat(_beat("silent", age=10, rate=5.0))
            await uow.cluster.save_heartbeat(_beat("ancient", age=7200, rate=9.0))
            await uow.commit()
        before = await cluster_status(e.store, e.runtime.services.admission, 100, 0.5)
        pruned = await prune_heartbeats(e.store, retention=3600)
        after = await cluster_status(e.store, None, 100, 0.5)
    assert 30 / 0.5 < second.rate < 30 / 0.15  # 30 in about 0.2 s
    alive = {n.beat.name: n.alive for n in before.nodes}
    assert alive == {heartbeat.name: True, "silent": False, "ancient": False}
    assert before.throughput("dispatcher") == second.rate
    assert before.throughput("worker") == 0  # silent processes do not count
    assert before.capacity_in_use == 0
    assert before.live_calls == 0
    assert pruned == 1
    assert sorted(n.beat.name for n in after.nodes) == sorted([heartbeat.name, "silent"])
    assert after.capacity_in_use is None


@pytest.mark.parametrize("backend", ["postgresql"])
def test_status_lists_processes_and_capacity(database_url: str) -> None:
    async def beat() -> None:
        from dialer.bootstrap import open_store
        from dialer.settings import load_settings

        async with open_store(load_settings(database_url=database_url)) as store:
            heartbeat = Heartbeat("worker", "w7@host", interval=5)
            heartbeat.count(processed=12)
            await heartbeat.beat(store)

    asyncio.run(beat())
    env = {"DIALER_DATABASE_URL": database_url}
    nodes = CliRunner().invoke(app, ["nodes", "--json"], env=env)
    status = CliRunner().invoke(app, ["status"], env=env)
    assert nodes.exit_code == 0, nodes.output
    [node] = json.loads(nodes.output)["nodes"]
    assert (node["kind"], node["node"], node["processed"], node["alive"]) == (
        "worker",
        "w7@host",
        12,
        True,
    )
    assert status.exit_code == 0, status.output
    assert "Processes" in status.output
    assert "w7@host" in status.output
    assert "capacity in use" in status.output


async def test_a_lookup_never_adopts_another_attempts_call(engine: EngineFactory) -> None:
    """The same number dialled again seconds later, by another campaign: the provider's list
    matches the first attempt's call for the second attempt too. Only the first may have it."""
    number = drafts(1)[0].phone
    async with engine(sim=sim_config(outcome_overrides={number: "busy"})) as e:
        services = e.runtime.services
        first, [job] = await queued_jobs(e, 1)
        await run_batch(services, [job_payload(job)], POLICY)

        async def first_over() -> bool:
            [row] = await attempts_of(e.store, first.id)
            return AttemptStatus(row["status"]) in TERMINAL_ATTEMPT

        await until(first_over, 10, "first call over")
        _, [retry] = await queued_jobs(e, 1, name="again")
        since = datetime.now(UTC) - timedelta(minutes=1)
        inner = services.telephony.inner  # type: ignore[attr-defined]  # every runtime wraps it
        raw = await inner.find_call(retry.request, since)
        safe = OwnCallsOnly(services.telephony, e.store)
        for_retry = await safe.find_call(retry.request, since)
        for_first = await safe.find_call(job.request, since)
        [owner] = await attempts_of(e.store, first.id)
    assert raw == owner["provider_call_id"]  # what a lookup by number and time finds
    assert for_retry is None
    assert for_first == owner["provider_call_id"]

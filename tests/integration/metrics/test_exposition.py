"""The /metrics exposition of a real campaign: promtool finds nothing wrong with it, and each
figure agrees with the store (or with what the dispatcher did)."""

from __future__ import annotations

import asyncio
from collections import Counter
from functools import partial

from prometheus_client.parser import text_string_to_metric_families

from dialer import metrics
from dialer.domain.statuses import TERMINAL_ATTEMPT, AttemptStatus
from dialer.ports import NewDeadLetter
from dialer.runner import run_to_end
from dialer.services.campaigns import start_campaign
from dialer.services.dlq import list_dead_letters
from dialer.services.figures import snapshot
from tests.support.engine import Engine, EngineFactory, attempt_rows, contacts, settings, sim_config
from tests.support.metrics import promtool, scrape

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def add_letters(e: Engine, tenant_id: int) -> None:
    """Three dead letters, one of them discarded since: two are waiting."""
    now = e.clock.now()
    async with e.store.unit() as uow:
        for n in range(3):
            await uow.cluster.add_dead_letter(
                NewDeadLetter(tenant_id, "originate", f"job-{n}", "broker down", {}, 3), now
            )
        await uow.commit()
    first = (await list_dead_letters(e.store, None))[0]
    async with e.store.unit() as uow:
        await uow.cluster.close_dead_letter(first.id, "discarded", now)
        await uow.commit()


async def test_a_campaigns_exposition_passes_promtool_and_agrees_with_the_store(
    engine: EngineFactory,
) -> None:
    # Two campaigns of one tenant calling the same 12 people: whichever calls a number
    # first holds its lock, so the other is refused (number busy) until that call ends.
    # One create in five fails with a 5xx: provider errors.
    # No frequency cap or cool-down here: the number policy would hold the second campaign
    # back for a day.
    quick = {"number_max_attempts": 100, "conversation_cooldown_seconds": 0}
    async with engine(sim=sim_config(error_rate=0.2), metrics_cache_seconds=0, **quick) as e:
        people = contacts(12)
        first = await e.campaign(settings(name="a", max_concurrency=3, ramp_up=0), people)
        second = await e.campaign(settings(name="b", max_concurrency=3, ramp_up=0), people)
        async with e.store.unit() as uow:
            await uow.tenants.save_settings(first.tenant_id, {"max_concurrency": 5})
            await uow.commit()
        started = e.clock.now()
        for campaign in (first, second):
            await start_campaign(e.runtime.services, campaign.id)
        ids = [str(first.id), str(second.id)]
        before = samples(await scrape(e))

        await asyncio.wait_for(run_to_end(e.runtime, first.id), 60)
        await asyncio.wait_for(run_to_end(e.runtime, second.id), 60)
        ran_for = (e.clock.now() - started).total_seconds()  # on the engine's clock
        await add_letters(e, first.tenant_id)
        text = await scrape(e)
        rows = [*await attempt_rows(e, first.id), *await attempt_rows(e, second.id)]
        letters = await list_dead_letters(e.store, None)

    checked = promtool("check", "metrics", stdin=text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")

    # Before any call: every lead is due and callable now, the caps sit beside live calls.
    tenant = str(first.tenant_id)
    assert [value(before, "dialer_due_leads", campaign=c) for c in ids] == [12, 12]
    assert [value(before, "dialer_campaign_max_concurrency", campaign=c) for c in ids] == [3, 3]
    assert value(before, "dialer_tenant_max_concurrency", tenant=tenant) == 5
    assert value(before, "dialer_tenant_live_calls", tenant=tenant) == 0

    after = samples(text)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    by_status = Counter(row["status"] for row in rows)
    sent = [row for row in rows if row["sent_at"] is not None]
    assert value(after, "dialer_calls_started_total") == len(sent)
    for status in TERMINAL_ATTEMPT:
        ended = value(after, "dialer_calls_ended_total", outcome=status.value)
        assert ended == by_status[status.value], status
    # Every attempt recorded was dispatched once, and its lateness observed once.
    lags = sum(grew("dialer_dispatch_lag_seconds_count", campaign=c) for c in ids)
    assert lags == len(rows)
    # Cap 3 for 12 leads each: most leads wait for a slot, so the total lateness is positive;
    # and no lead can be later than the whole run (seconds, not milliseconds).
    late = sum(grew("dialer_dispatch_lag_seconds_sum", campaign=c) for c in ids)
    assert 0 < late <= lags * ran_for
    busy = sum(
        grew("dialer_admission_refusals_total", campaign=c, reason="number_busy") for c in ids
    )
    assert busy > 0
    # Each create the simulator failed put its attempt back, unsent, and counted one error.
    unsent = [
        row
        for row in rows
        if row["status"] == AttemptStatus.CANCELED.value
        and str(row["hangup_cause"]).startswith("not sent")
        and "circuit open" not in str(row["hangup_cause"])
    ]
    account = e.runtime.guard.account if e.runtime.guard else ""
    errors = grew("dialer_provider_errors_total", account=account, kind="unavailable")
    assert errors == len(unsent) > 0
    waiting = [letter for letter in letters if letter.is_open]
    assert value(after, "dialer_dead_letters") == len(waiting) == 2


async def test_scrapes_share_one_read_of_the_store(engine: EngineFactory) -> None:
    async with engine() as e:
        services = e.runtime.services
        campaign = await e.campaign(settings(), contacts(3))
        await start_campaign(services, campaign.id)
        together = await asyncio.gather(
            *(metrics.cache.get(partial(snapshot, services), services, 60) for _ in range(5))
        )
        assert all(snapshot is together[0] for snapshot in together)
        await add_letters(e, campaign.tenant_id)
        assert (
            await metrics.cache.get(partial(snapshot, services), services, 60)
        ).dead_letters == 0  # fresh enough
        assert (
            await metrics.cache.get(partial(snapshot, services), services, 0)
        ).dead_letters == 2  # read again

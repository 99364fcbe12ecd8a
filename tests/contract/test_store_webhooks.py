"""The store contract for outbound webhooks, the same on SQLite, PostgreSQL and in memory:
endpoints kept per tenant, events fanned out to the subscribed enabled endpoints only, a
lead's events numbered in order and delivered in that order, claims leased, settling, and
the attempts listed per endpoint."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from dialer.adapters.clock import ManualClock
from dialer.ports import Store
from dialer.ports.webhook_store import DEAD, DELIVERED, PENDING, DeliveryAttempt, NewEvent

SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
LEASE = timedelta(seconds=30)


async def endpoint(store: Store, clock: ManualClock, tenant_id: int, events: list[str]) -> int:
    async with store.unit() as uow:
        added = await uow.webhooks.add_endpoint(
            tenant_id, "https://crm.example/hook", events, "crm", SECRET, clock.now()
        )
        await uow.commit()
    return added.id


async def record(store: Store, clock: ManualClock, *events: NewEvent) -> int:
    async with store.unit() as uow:
        written = await uow.webhooks.record(events, clock.now())
        await uow.commit()
    return written


async def claim(store: Store, clock: ManualClock, limit: int = 100) -> list[tuple[int, str]]:
    async with store.unit() as uow:
        found = await uow.webhooks.claim_due(clock.now(), clock.now() + LEASE, limit)
        await uow.commit()
    return [(d.endpoint_id, d.type) for d in found]


async def test_endpoints_are_kept_per_tenant(store: Store, clock: ManualClock) -> None:
    first = await endpoint(store, clock, 1, ["lead.finished"])
    await endpoint(store, clock, 2, ["attempt.ended"])
    async with store.unit() as uow:
        mine = await uow.webhooks.endpoints(1)
        found = await uow.webhooks.endpoint(first)
        assert found is not None
        found.enabled, found.events = False, ["attempt.ended", "lead.finished"]
        found.previous_secret, found.previous_until = SECRET, clock.now()
        await uow.webhooks.save_endpoint(found, clock.now())
        await uow.commit()
    assert [e.id for e in mine] == [first]
    assert mine[0].secret == SECRET
    assert mine[0].enabled
    assert SECRET not in repr(mine[0])
    async with store.unit() as uow:
        again = await uow.webhooks.endpoint(first)
        assert await uow.webhooks.subscriptions() == {2: {"attempt.ended"}}
    assert again is not None
    assert not again.enabled
    assert again.events == ["attempt.ended", "lead.finished"]
    assert again.previous_until == clock.now()


async def test_events_go_to_subscribed_enabled_endpoints_of_their_tenant(
    store: Store, clock: ManualClock
) -> None:
    crm = await endpoint(store, clock, 1, ["lead.finished", "attempt.ended"])
    bot = await endpoint(store, clock, 1, ["attempt.ended"])
    await endpoint(store, clock, 2, ["lead.finished"])
    written = await record(store, clock, NewEvent(1, "lead.finished", {"lead_id": 7}, lead_id=7))
    assert written == 1
    assert await record(store, clock, NewEvent(1, "attempt.ended", {}, lead_id=8)) == 2
    assert await record(store, clock, NewEvent(3, "attempt.ended", {})) == 0
    # a test event goes to the one endpoint named, whatever it subscribed to
    assert await record(store, clock, NewEvent(1, "webhook.test", {}, endpoint_id=bot)) == 1
    assert sorted(await claim(store, clock)) == [
        (crm, "attempt.ended"),
        (crm, "lead.finished"),
        (bot, "attempt.ended"),
        (bot, "webhook.test"),
    ]


async def test_a_rolled_back_event_is_never_delivered(store: Store, clock: ManualClock) -> None:
    await endpoint(store, clock, 1, ["lead.finished"])
    async with store.unit() as uow:
        await uow.webhooks.record([NewEvent(1, "lead.finished", {}, lead_id=1)], clock.now())
        # no commit: the state change and its event go together
    assert await claim(store, clock) == []


async def test_a_leads_events_are_numbered_and_claimed_in_order(
    store: Store, clock: ManualClock
) -> None:
    crm = await endpoint(store, clock, 1, ["attempt.ended", "lead.finished"])
    await record(store, clock, NewEvent(1, "attempt.ended", {}, lead_id=5))
    await record(store, clock, NewEvent(1, "lead.finished", {}, lead_id=5))
    await record(store, clock, NewEvent(1, "attempt.ended", {}, lead_id=6))
    async with store.unit() as uow:
        first = await uow.webhooks.claim_due(clock.now(), clock.now() + LEASE, 100)
        await uow.commit()
    # lead 5's second event waits behind its first, which is leased, not yet settled
    assert [(d.lead_id, d.sequence, d.type) for d in first] == [
        (5, 1, "attempt.ended"),
        (6, 1, "attempt.ended"),
    ]
    assert await claim(store, clock) == []  # the leased ones are not claimed again
    async with store.unit() as uow:
        await uow.webhooks.settle(first[0].id, DELIVERED, clock.now(), 1, None)
        await uow.commit()
    assert await claim(store, clock) == [(crm, "lead.finished")]


async def test_a_lease_runs_out_and_a_retry_waits_for_its_time(
    store: Store, clock: ManualClock
) -> None:
    await endpoint(store, clock, 1, ["lead.finished"])
    await record(store, clock, NewEvent(1, "lead.finished", {"outcome": "COMPLETED"}, lead_id=1))
    async with store.unit() as uow:
        [delivery] = await uow.webhooks.claim_due(clock.now(), clock.now() + LEASE, 10)
        await uow.commit()
    clock.advance(LEASE.total_seconds())  # the claimer died: due again when its lease ends
    async with store.unit() as uow:
        [again] = await uow.webhooks.claim_due(clock.now(), clock.now() + LEASE, 10)
        await uow.webhooks.settle(again.id, PENDING, clock.now() + timedelta(seconds=60), 1, "500")
        await uow.commit()
    assert again.id == delivery.id
    assert again.data == {"outcome": "COMPLETED"}
    clock.advance(59)
    assert await claim(store, clock) == []
    clock.advance(1)
    async with store.unit() as uow:
        [third] = await uow.webhooks.claim_due(clock.now(), clock.now() + LEASE, 10)
        await uow.webhooks.settle(third.id, DEAD, clock.now(), 2, "gone")
        await uow.commit()
        stored = await uow.webhooks.delivery(third.id)
    assert third.tries == 1
    assert third.last_error == "500"
    assert stored is not None
    assert (stored.status, stored.tries) == (DEAD, 2)
    assert await claim(store, clock) == []


async def test_a_paused_or_disabled_endpoint_is_not_claimed(
    store: Store, clock: ManualClock
) -> None:
    crm = await endpoint(store, clock, 1, ["lead.finished"])
    await record(store, clock, NewEvent(1, "lead.finished", {}))
    async with store.unit() as uow:
        found = await uow.webhooks.endpoint(crm, lock=True)
        assert found is not None
        found.paused_until = clock.now() + timedelta(seconds=10)
        await uow.webhooks.save_endpoint(found, clock.now())
        await uow.commit()
    assert await claim(store, clock) == []
    clock.advance(10)
    assert await claim(store, clock, limit=0) == []
    async with store.unit() as uow:
        found = await uow.webhooks.endpoint(crm)
        assert found is not None
        found.enabled = False
        await uow.webhooks.save_endpoint(found, clock.now())
        await uow.commit()
    assert await claim(store, clock) == []


async def test_attempts_are_listed_per_endpoint(store: Store, clock: ManualClock) -> None:
    crm = await endpoint(store, clock, 1, ["lead.finished"])
    other = await endpoint(store, clock, 1, ["lead.finished"])
    await record(store, clock, NewEvent(1, "lead.finished", {}))
    async with store.unit() as uow:
        claimed = await uow.webhooks.claim_due(clock.now(), clock.now() + LEASE, 10)
        await uow.webhooks.add_attempts(
            [DeliveryAttempt(d.id, d.endpoint_id, clock.now(), 500, 12.5, "boom") for d in claimed]
        )
        await uow.commit()
        listed = await uow.webhooks.attempts(crm, 0, 10)
        assert await uow.webhooks.latest_attempts(crm, 5) == listed
        assert await uow.webhooks.attempts(crm, listed[0].id, 10) == []
        assert len(await uow.webhooks.attempts(other, 0, 10)) == 1
    [attempt] = listed
    assert (attempt.status_code, attempt.latency_ms, attempt.error) == (500, 12.5, "boom")
    assert attempt.type == "lead.finished"
    assert attempt.event_id > 0


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_concurrent_claims_never_share_a_delivery(store: Store, clock: ManualClock) -> None:
    """SKIP LOCKED: two dispatchers claiming at once get disjoint deliveries, and neither
    waits; a lead's later event stays behind its earlier one claimed by the other."""
    await endpoint(store, clock, 1, ["lead.finished", "attempt.ended"])
    for lead_id in range(1, 9):
        await record(store, clock, NewEvent(1, "attempt.ended", {}, lead_id=lead_id))
    await record(store, clock, NewEvent(1, "lead.finished", {}, lead_id=1))
    lease = clock.now() + LEASE
    async with store.unit() as first, store.unit() as second:
        a = await first.webhooks.claim_due(clock.now(), lease, 5)
        b = await asyncio.wait_for(second.webhooks.claim_due(clock.now(), lease, 10), 5)
    assert len(a) == 5
    assert len(b) == 3
    assert not {d.id for d in a} & {d.id for d in b}
    assert all(d.type == "attempt.ended" for d in [*a, *b])


async def test_the_latest_attempts_come_newest_first(store: Store, clock: ManualClock) -> None:
    crm = await endpoint(store, clock, 1, ["lead.finished"])
    await record(store, clock, NewEvent(1, "lead.finished", {}))
    async with store.unit() as uow:
        [delivery] = await uow.webhooks.claim_due(clock.now(), clock.now() + LEASE, 10)
        await uow.webhooks.add_attempts(
            [DeliveryAttempt(delivery.id, crm, clock.now(), code, 1.0) for code in (500, 502, 204)]
        )
        await uow.webhooks.delivered([delivery.id], clock.now())
        await uow.commit()
        stored = await uow.webhooks.delivery(delivery.id)
        assert stored is not None
        assert (stored.status, stored.tries, stored.last_error) == (DELIVERED, 1, None)
        latest = await uow.webhooks.latest_attempts(crm, 2)
    assert [a.status_code for a in latest] == [204, 502]


async def test_a_claim_skips_the_endpoints_it_is_told_to(store: Store, clock: ManualClock) -> None:
    busy = await endpoint(store, clock, 1, ["lead.finished"])
    free = await endpoint(store, clock, 1, ["lead.finished"])
    await record(store, clock, NewEvent(1, "lead.finished", {}))
    async with store.unit() as uow:
        claimed = await uow.webhooks.claim_due(
            clock.now(), clock.now() + LEASE, 10, skip_endpoints=[busy]
        )
        await uow.commit()
    assert [d.endpoint_id for d in claimed] == [free]

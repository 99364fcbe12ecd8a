"""Delivery of the outbox to a real receiver that verifies signatures with the
``standardwebhooks`` package: events written with the change that caused them, signed,
retried with back-off, dead-lettered after the horizon and replayed, 410 disabling the
endpoint, the breaker pausing a failing endpoint and probing it, timeouts and refused
connections recorded, per-lead order kept, both secrets signing during a rotation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from dialer import metrics
from dialer.bootstrap import Runtime
from dialer.ports.jobs import JobFailure
from dialer.ports.webhook_store import NewEvent
from dialer.services.batches import record_failures
from tests.integration.outbound.conftest import clock_of, deliverer, subscribe, webhook_runtime
from tests.support.api import CAMPAIGN, Keys, api_client, bearer, make_keys
from tests.support.polling import until
from tests.support.webhook_receiver import DROP, SLOW, Receiver, running_receiver

PATH = "/v1/webhook-endpoints"


async def attempts(client: httpx.AsyncClient, keys: Keys, endpoint_id: int) -> list[Any]:
    answer = await client.get(f"{PATH}/{endpoint_id}/attempts", headers=bearer(keys.viewer))
    items: list[Any] = answer.json()["items"]
    return items


async def lead_events(runtime: Runtime, tenant_id: int, lead_id: int, *types: str) -> None:
    async with runtime.store.unit() as uow:
        events = [NewEvent(tenant_id, t, {"lead_id": lead_id}, lead_id=lead_id) for t in types]
        await uow.webhooks.record(events, runtime.services.clock.now())
        await uow.commit()


def delivered_count() -> float:
    sample = metrics.process_registry.get_sample_value(
        "dialer_outbound_webhooks_total", {"outcome": "delivered"}
    )
    return sample or 0.0


async def _holding(receiver: Receiver) -> bool:
    return receiver.in_flight > 0


async def tenant_of(runtime: Runtime, name: str = "acme") -> int:
    async with runtime.store.unit() as uow:
        return await uow.tenants.id_for(name)


async def test_a_campaign_change_reaches_the_receiver_signed(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    endpoint = await subscribe(client, keys.admin, receiver, ["campaign.state_changed"])
    created = await client.post("/v1/campaigns", json=CAMPAIGN, headers=bearer(keys.operator))
    campaign_id = created.json()["id"]
    started = await client.post(f"/v1/campaigns/{campaign_id}/start", headers=bearer(keys.operator))
    assert started.status_code == 200
    before = delivered_count()
    assert await deliverer(runtime).run_once() == 1
    assert delivered_count() == before + 1  # dialer_outbound_webhooks_total{outcome=delivered}
    [got] = receiver.received
    assert receiver.refused == []
    assert got.headers["webhook-id"] == got.payload["id"]
    assert got.headers["webhook-id"].startswith("evt_")
    assert got.payload["type"] == "campaign.state_changed"
    assert got.payload["version"] == 1
    assert got.payload["data"] == {
        "campaign_id": campaign_id,
        "name": CAMPAIGN["name"],
        "status": "RUNNING",
        "previous_status": "DRAFT",
        "reason": None,  # a person started it
    }
    [attempt] = await attempts(client, keys, endpoint["id"])
    assert attempt["status_code"] == 204
    assert attempt["error"] is None
    assert attempt["type"] == "campaign.state_changed"
    assert await deliverer(runtime).run_once() == 0  # delivered once, not again


async def test_a_change_that_rolls_back_sends_nothing(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    await subscribe(client, keys.admin, receiver, ["campaign.state_changed"])
    created = await client.post("/v1/campaigns", json=CAMPAIGN, headers=bearer(keys.operator))
    campaign_id = created.json()["id"]
    await client.post(f"/v1/campaigns/{campaign_id}/start", headers=bearer(keys.operator))
    again = await client.post(f"/v1/campaigns/{campaign_id}/start", headers=bearer(keys.operator))
    assert again.status_code == 409  # an illegal move: nothing stored, nothing sent
    assert await deliverer(runtime).run_once() == 1


async def test_failures_are_retried_then_dead_lettered_then_replayed(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    endpoint = await subscribe(client, keys.admin, receiver, ["lead.finished"])
    await lead_events(runtime, await tenant_of(runtime), 7, "lead.finished")
    clock = clock_of(runtime)
    receiver.answer(500, 503, 500)
    assert await deliverer(runtime).run_once() == 1
    assert await deliverer(runtime).run_once() == 0  # its retry is not due yet
    clock.advance(30 * 60)  # past the back-off (at most 5 s), within the 1 h horizon
    assert await deliverer(runtime).run_once() == 1
    assert (await client.get("/v1/dlq", headers=bearer(keys.viewer))).json()["items"] == []
    clock.advance(2 * 3600)  # a retry after this try would fall beyond the horizon
    assert await deliverer(runtime).run_once() == 1
    tries = await attempts(client, keys, endpoint["id"])
    assert [a["status_code"] for a in tries] == [500, 503, 500]
    assert all(a["error"] == f"HTTP {a['status_code']}" for a in tries)
    letters = (await client.get("/v1/dlq", headers=bearer(keys.viewer))).json()["items"]
    [letter] = letters
    assert letter["kind"] == "webhook"
    assert letter["cause"].startswith("HTTP")
    assert letter["payload"]["endpoint_id"] == endpoint["id"]
    assert (await client.get("/v1/dlq", headers=bearer(keys.other))).json()["items"] == []

    replayed = await client.post(f"/v1/dlq/{letter['id']}/replay", headers=bearer(keys.operator))
    assert replayed.status_code == 200
    assert await deliverer(runtime).run_once() == 0  # three failures in a row: breaker open
    clock.advance(30)  # DIALER_WEBHOOK_BREAKER_SECONDS: the replayed delivery probes it
    assert await deliverer(runtime).run_once() == 1
    assert [p["data"]["lead_id"] for p in receiver.delivered()] == [7]


async def test_an_endpoint_asking_to_wait_is_asked_nothing_until_then(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    """A 429 with Retry-After: 120 holds that delivery, and every other one to the endpoint,
    for 120 s, past the back-off (at most 5 s after a first failure)."""
    endpoint = await subscribe(client, keys.admin, receiver, ["lead.finished"])
    tenant_id = await tenant_of(runtime)
    await lead_events(runtime, tenant_id, 1, "lead.finished")
    receiver.headers = {"Retry-After": "120"}
    receiver.answer(429)
    assert await deliverer(runtime).run_once() == 1
    receiver.headers = {}
    await lead_events(runtime, tenant_id, 2, "lead.finished")
    clock = clock_of(runtime)
    clock.advance(119)
    assert await deliverer(runtime).run_once() == 0
    found = (await client.get(f"{PATH}/{endpoint['id']}", headers=bearer(keys.viewer))).json()
    assert found["paused_until"] is not None
    clock.advance(2)
    while await deliverer(runtime).run_once():  # a probe first, then the rest
        pass
    assert sorted(p["data"]["lead_id"] for p in receiver.delivered()) == [1, 2]


async def test_gone_disables_the_endpoint_until_enabled_again(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    endpoint = await subscribe(client, keys.admin, receiver, ["lead.finished"])
    await lead_events(runtime, await tenant_of(runtime), 1, "lead.finished")
    receiver.answer(410)
    assert await deliverer(runtime).run_once() == 1
    found = (await client.get(f"{PATH}/{endpoint['id']}", headers=bearer(keys.viewer))).json()
    assert found["enabled"] is False
    assert "410" in found["disabled_reason"]
    await lead_events(runtime, await tenant_of(runtime), 2, "lead.finished")
    clock_of(runtime).advance(3600)
    assert await deliverer(runtime).run_once() == 0
    await client.patch(
        f"{PATH}/{endpoint['id']}", json={"enabled": True}, headers=bearer(keys.admin)
    )
    # the one the 410 answered waited; an event of the time it was disabled never was its
    assert await deliverer(runtime).run_once() == 1
    assert [p["data"]["lead_id"] for p in receiver.delivered()] == [1]


async def test_the_breaker_pauses_a_failing_endpoint_then_probes_it(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    endpoint = await subscribe(client, keys.admin, receiver, ["lead.finished"])
    tenant_id = await tenant_of(runtime)
    for lead_id in (1, 2, 3):
        await lead_events(runtime, tenant_id, lead_id, "lead.finished")
    receiver.answer(500, 500, 500)
    assert await deliverer(runtime).run_once() == 3  # three failures in a row: it opens
    found = (await client.get(f"{PATH}/{endpoint['id']}", headers=bearer(keys.viewer))).json()
    assert found["failures"] == 3
    assert found["paused_until"] is not None
    await lead_events(runtime, tenant_id, 4, "lead.finished")
    clock = clock_of(runtime)
    clock.advance(29)  # every retry is due (at most 5 s), but the breaker holds them
    assert await deliverer(runtime).run_once() == 0
    clock.advance(1)
    receiver.slow_seconds = 0.3  # the probe is answered, slowly
    receiver.answer(SLOW)
    probe = asyncio.create_task(deliverer(runtime).run_once())
    await until(lambda: _holding(receiver), 5, "the probe in flight")
    assert await deliverer(runtime).run_once() == 0  # no second probe meanwhile
    assert await probe == 1  # it succeeds
    found = (await client.get(f"{PATH}/{endpoint['id']}", headers=bearer(keys.viewer))).json()
    assert (found["failures"], found["paused_until"]) == (0, None)
    assert await deliverer(runtime).run_once() == 3  # closed: the rest go
    answered = [p for p in receiver.received_payloads() if p["_answer"] in {SLOW, 204}]
    assert sorted(p["data"]["lead_id"] for p in answered) == [1, 2, 3, 4]


async def test_timeouts_and_dropped_or_refused_connections_are_failures(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    endpoint = await subscribe(client, keys.admin, receiver, ["lead.finished"])
    await lead_events(runtime, await tenant_of(runtime), 1, "lead.finished")
    receiver.answer(SLOW, DROP)
    clock = clock_of(runtime)
    assert await deliverer(runtime).run_once() == 1
    clock.advance(60)
    assert await deliverer(runtime).run_once() == 1
    refused = await client.post(
        PATH,
        json={"url": "http://127.0.0.1:9/nobody-listens", "events": ["lead.finished"]},
        headers=bearer(keys.admin),
    )
    await lead_events(runtime, await tenant_of(runtime), 2, "lead.finished")
    clock.advance(60)
    assert await deliverer(runtime).run_once() == 3  # lead 1 again, lead 2 to both
    tries = await attempts(client, keys, endpoint["id"])
    assert [a["status_code"] for a in tries] == [None, None, 204, 204]
    assert "timed out" in tries[0]["error"]
    assert tries[1]["error"]  # the dropped connection
    [nobody] = await attempts(client, keys, refused.json()["id"])
    assert nobody["status_code"] is None
    assert "Connect" in nobody["error"]


async def test_a_leads_events_arrive_in_sequence_even_when_the_first_fails(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    await subscribe(client, keys.admin, receiver, ["attempt.ended", "lead.finished"])
    tenant_id = await tenant_of(runtime)
    await lead_events(runtime, tenant_id, 9, "attempt.ended", "attempt.ended", "lead.finished")
    receiver.answer(500)
    assert await deliverer(runtime).run_once() == 1  # the lead's first only; it fails
    await lead_events(runtime, tenant_id, 10, "attempt.ended")
    assert await deliverer(runtime).run_once() == 1  # another lead's is not held back
    clock = clock_of(runtime)
    for _ in range(5):
        clock.advance(60)
        await deliverer(runtime).run_once()
    arrived = [
        (p["data"]["lead_id"], p["sequence"], p["type"]) for p in receiver.received_payloads()
    ]
    assert [a for a in arrived if a[0] == 9] == [
        (9, 1, "attempt.ended"),  # failed
        (9, 1, "attempt.ended"),  # retried, delivered: only then the next
        (9, 2, "attempt.ended"),
        (9, 3, "lead.finished"),
    ]
    assert [a for a in arrived if a[0] == 10] == [(10, 1, "attempt.ended")]


async def test_both_secrets_sign_during_a_rotations_overlap(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    endpoint = await subscribe(client, keys.admin, receiver, ["lead.finished"])
    old = endpoint["secret"]
    rotated = await client.post(
        f"{PATH}/{endpoint['id']}/rotate-secret?overlap_hours=1", headers=bearer(keys.admin)
    )
    new = rotated.json()["secret"]
    receiver.secrets[:] = [old, new]
    await lead_events(runtime, await tenant_of(runtime), 1, "lead.finished")
    assert await deliverer(runtime).run_once() == 1
    assert receiver.received[-1].verified_by == [old, new]  # a receiver with either verifies
    clock_of(runtime).advance(3600)  # the overlap is over: the new secret alone signs
    await lead_events(runtime, await tenant_of(runtime), 2, "lead.finished")
    assert await deliverer(runtime).run_once() == 1
    assert receiver.received[-1].verified_by == [new]
    receiver.secrets[:] = [old]  # a receiver still on the old secret now refuses
    await lead_events(runtime, await tenant_of(runtime), 3, "lead.finished")
    assert await deliverer(runtime).run_once() == 1
    assert len(receiver.refused) == 1


async def test_a_tenants_events_go_only_to_its_own_endpoints(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    await subscribe(client, keys.other_admin, receiver, ["lead.finished"])
    await lead_events(runtime, await tenant_of(runtime, "acme"), 1, "lead.finished")
    assert await deliverer(runtime).run_once() == 0
    await lead_events(runtime, await tenant_of(runtime, "globex"), 2, "lead.finished")
    assert await deliverer(runtime).run_once() == 1
    assert [p["data"]["lead_id"] for p in receiver.delivered()] == [2]


async def test_a_test_event_goes_to_the_one_endpoint(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    endpoint = await subscribe(client, keys.admin, receiver, ["lead.finished"])
    await subscribe(client, keys.admin, receiver, ["lead.finished"])
    sent = await client.post(f"{PATH}/{endpoint['id']}/test", headers=bearer(keys.admin))
    assert sent.status_code == 202
    assert await deliverer(runtime).run_once() == 1
    [payload] = receiver.delivered()
    assert payload["type"] == "webhook.test"
    assert payload["data"]["endpoint_id"] == endpoint["id"]


async def test_an_endpoint_gets_at_most_its_concurrency_at_once(
    database_url: str, receiver: Receiver
) -> None:
    async with (
        webhook_runtime(database_url, webhook_concurrency=2) as runtime,
        api_client(runtime) as client,
    ):
        keys = await make_keys(runtime)
        await subscribe(client, keys.admin, receiver, ["lead.finished"])
        tenant_id = await tenant_of(runtime)
        for lead_id in range(1, 7):
            await lead_events(runtime, tenant_id, lead_id, "lead.finished")
        receiver.slow_seconds = 0.2  # within the sender's timeout: each is answered
        receiver.answer(*[SLOW] * 6)
        # it may hold twice its concurrency here; the rest waits in the database
        assert await deliverer(runtime).run_once() == 4
        assert await deliverer(runtime).run_once() == 2
    assert receiver.peak == 2
    assert len(receiver.received) == 6


async def test_a_failed_job_reports_its_dead_letter(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    await subscribe(client, keys.admin, receiver, ["dead_letter.created"])
    failure = JobFailure({"attempt_id": 41}, await tenant_of(runtime), "attempt:41", "boom", 3)
    await record_failures(runtime.services, [failure])
    assert await deliverer(runtime).run_once() == 1
    [payload] = receiver.delivered()
    assert payload["type"] == "dead_letter.created"
    assert payload["sequence"] is None
    assert payload["data"] == {
        "kind": "originate",
        "key": "attempt:41",
        "cause": "boom",
        "attempts": 3,
    }


async def test_a_slow_endpoint_does_not_hold_up_another(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    async with running_receiver() as fast:
        await subscribe(client, keys.admin, receiver, ["lead.finished"])
        await subscribe(client, keys.admin, fast, ["lead.finished"])
        receiver.slow_seconds = 0.4  # answered within the 0.5 s timeout, slowly
        receiver.answer(SLOW)
        await lead_events(runtime, await tenant_of(runtime), 1, "lead.finished")
        assert await deliverer(runtime).start_once() == 2  # the loop's tick: no waiting

        async def fast_one_delivered() -> bool:
            return len(fast.delivered()) == 1

        await until(fast_one_delivered, 5, "the fast endpoint's delivery")
        assert receiver.in_flight == 1  # while the slow one is still answering
        await deliverer(runtime).wait_idle()
    assert [a["status_code"] for a in await attempts(client, keys, 1)] == [204]

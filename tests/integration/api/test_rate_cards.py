"""/v1/rate-cards and /v1/costs through the API: cards are the deployment's (a platform key
writes and reads them, no tenant), versioned, refused naming the field; the rollup validates
its query and sees only the caller's tenant."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from dialer.domain.costs import CostChannel
from dialer.ports.cost_store import NewCharge
from dialer.services.access import KeyScope, create_key
from tests.support.api import api_client, api_runtime, bearer, make_keys
from tests.support.clock import T0

CARD: dict[str, Any] = {
    "provider": "twilio",
    "channel": "call",
    "currency": "USD",
    "increment": "30/6",
    "prices": [{"prefix": "1", "per_minute": "0.014"}, {"prefix": "44", "per_minute": 0.0255}],
}


async def test_a_platform_key_adds_versions_and_no_tenant_key_may(database_url: str) -> None:
    async with api_runtime(database_url) as runtime, api_client(runtime) as client:
        keys = await make_keys(runtime)
        _, platform = await create_key(runtime.store, "ops", KeyScope.PLATFORM, "ops", T0)
        refused = await client.post("/v1/rate-cards", json=CARD, headers=bearer(keys.admin))
        first = await client.post("/v1/rate-cards", json=CARD, headers=bearer(platform))
        second = await client.post("/v1/rate-cards", json=CARD, headers=bearer(platform))
        listed = await client.get(
            "/v1/rate-cards", params={"channel": "call"}, headers=bearer(platform)
        )
        hidden = await client.get("/v1/rate-cards", headers=bearer(keys.admin))
    assert refused.status_code == 403
    assert hidden.status_code == 403
    assert first.status_code == second.status_code == 201, first.text
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    assert first.headers["Location"] == f"/v1/rate-cards/{first.json()['id']}"
    card = first.json()["card"]
    assert card["prices"][1] == {
        "prefix": "44",
        "per_minute": "0.0255",
        "increment": "30/6",
        "connection_fee": "0",
    }
    assert card["effective_at"] == T0.isoformat()
    assert [item["version"] for item in listed.json()["items"]] == [1, 2]


async def test_a_bad_card_is_refused_naming_each_field_and_nothing_is_stored(
    database_url: str,
) -> None:
    bad = {**CARD, "currency": "dollars", "prices": [{"prefix": "1", "per_segment": 1}]}
    past = {**CARD, "effective_at": (T0 - timedelta(hours=1)).isoformat()}
    async with api_runtime(database_url) as runtime, api_client(runtime) as client:
        _, platform = await create_key(runtime.store, "ops", KeyScope.PLATFORM, "ops", T0)
        refused = await client.post("/v1/rate-cards", json=bad, headers=bearer(platform))
        too_late = await client.post("/v1/rate-cards", json=past, headers=bearer(platform))
        listed = await client.get("/v1/rate-cards", headers=bearer(platform))
    assert refused.status_code == 422
    fields = {p["location"] for p in refused.json()["errors"]}
    assert "currency" in fields
    assert too_late.status_code == 422
    assert [p["location"] for p in too_late.json()["errors"]] == ["effective_at"]
    assert listed.json()["items"] == []


async def charge(runtime: Any, tenant: str, subject: int, amount: str) -> None:
    async with runtime.store.unit() as uow:
        tenant_id = await uow.tenants.id_for(tenant)
        await uow.costs.record_charges(
            [
                NewCharge(
                    tenant_id,
                    5,
                    CostChannel.CALL,
                    subject,
                    Decimal(amount),
                    "USD",
                    1,
                    date(2026, 12, 1),
                    T0,
                )
            ]
        )
        await uow.commit()


async def test_the_rollup_sees_only_the_callers_tenant_and_validates_its_query(
    database_url: str,
) -> None:
    async with api_runtime(database_url) as runtime, api_client(runtime) as client:
        keys = await make_keys(runtime)
        await charge(runtime, "acme", 1, "0.25")
        await charge(runtime, "globex", 2, "9")
        mine = await client.get("/v1/costs", headers=bearer(keys.viewer))
        theirs = await client.get("/v1/costs", headers=bearer(keys.other))
        backwards = await client.get(
            "/v1/costs",
            params={"since": "2026-12-02", "until": "2026-12-01"},
            headers=bearer(keys.viewer),
        )
        unknown = await client.get(
            "/v1/costs", params={"group_by": "hour"}, headers=bearer(keys.viewer)
        )
    assert [(r["campaign_id"], r["amount"], r["count"]) for r in mine.json()["items"]] == [
        (5, "0.250000", 1)
    ]
    assert [r["amount"] for r in theirs.json()["items"]] == ["9.000000"]
    assert backwards.status_code == 422
    assert [p["location"] for p in backwards.json()["errors"]] == ["since"]
    assert unknown.status_code == 422
    assert "group_by" in unknown.text


async def test_the_tenant_budget_is_set_by_an_admin_and_checked_naming_each_field(
    database_url: str,
) -> None:
    budget = {"total": "5000", "per_day": 250.5, "currency": "USD", "timezone": "Europe/Paris"}
    async with api_runtime(database_url) as runtime, api_client(runtime) as client:
        keys = await make_keys(runtime)
        empty = await client.get("/v1/budget", headers=bearer(keys.viewer))
        refused = await client.put("/v1/budget", json=budget, headers=bearer(keys.operator))
        bad = await client.put(
            "/v1/budget",
            json={"total": -1, "currency": "USD", "timezone": "Mars/Olympus"},
            headers=bearer(keys.admin),
        )
        saved = await client.put("/v1/budget", json=budget, headers=bearer(keys.admin))
        mine = await client.get("/v1/budget", headers=bearer(keys.viewer))
        theirs = await client.get("/v1/budget", headers=bearer(keys.other))
        removed = await client.put("/v1/budget", json=None, headers=bearer(keys.admin))
    assert empty.json() == {"budget": None}
    assert refused.status_code == 403
    assert bad.status_code == 422
    assert {p["location"] for p in bad.json()["errors"]} == {"budget.total", "budget.timezone"}
    assert saved.status_code == 200, saved.text
    expected = {"total": "5000", "per_day": "250.5", "currency": "USD", "timezone": "Europe/Paris"}
    assert mine.json() == {"budget": expected}
    assert theirs.json() == {"budget": None}
    assert removed.json() == {"budget": None}

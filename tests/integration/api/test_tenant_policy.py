"""GET/PUT /v1/limits and /v1/policy: the tenant's own cap and start rates, and its number
policy; any key reads, an admin key writes, bounds as on the command line, one tenant each."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dialer.bootstrap import Runtime
from dialer.domain.safety import NumberPolicy
from dialer.errors import InvalidInput
from dialer.services import safety, tenants
from tests.support.api import Keys, bearer

NO_LIMITS = {
    "max_concurrency": None,
    "rate_per_second": None,
    "rate_per_minute": None,
    "rate_per_hour": None,
    "sms_per_second": None,
    "email_per_second": None,
}
DEFAULT_POLICY = {
    "number_max_attempts": 3,
    "number_window_seconds": 86400,
    "conversation_cooldown_seconds": 86400,
    "calling_hours": "08:00-21:00",
}


async def _get(client: httpx.AsyncClient, token: str, path: str) -> dict[str, Any]:
    response = await client.get(path, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_limits_are_read_by_any_key_and_set_by_an_admin_for_its_tenant_only(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    assert await _get(client, keys.viewer, "/v1/limits") == NO_LIMITS
    wanted = {"max_concurrency": 20, "rate_per_second": 5}
    for token in (keys.viewer, keys.operator):
        refused = await client.put("/v1/limits", json=wanted, headers=bearer(token))
        assert refused.status_code == 403
    response = await client.put("/v1/limits", json=wanted, headers=bearer(keys.admin))
    assert response.status_code == 200, response.text
    assert response.json() == {**NO_LIMITS, **wanted}
    assert await _get(client, keys.viewer, "/v1/limits") == {**NO_LIMITS, **wanted}
    assert await _get(client, keys.other, "/v1/limits") == NO_LIMITS  # globex is untouched

    # PUT replaces: what is left out is no longer a limit of the tenant's own
    cleared = await client.put(
        "/v1/limits", json={"rate_per_hour": 900}, headers=bearer(keys.admin)
    )
    assert cleared.json() == {**NO_LIMITS, "rate_per_hour": 900}


async def test_the_policy_is_read_by_any_key_and_set_by_an_admin_for_its_tenant_only(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    assert await _get(client, keys.viewer, "/v1/policy") == DEFAULT_POLICY
    wanted = {"number_max_attempts": 2, "number_window_seconds": 3600}
    refused = await client.put("/v1/policy", json=wanted, headers=bearer(keys.operator))
    assert refused.status_code == 403
    response = await client.put("/v1/policy", json=wanted, headers=bearer(keys.admin))
    assert response.status_code == 200, response.text
    assert response.json() == {**DEFAULT_POLICY, **wanted}
    assert await _get(client, keys.viewer, "/v1/policy") == {**DEFAULT_POLICY, **wanted}
    assert await _get(client, keys.other, "/v1/policy") == DEFAULT_POLICY
    # left out: back to the deployment's default
    again = await client.put("/v1/policy", json={}, headers=bearer(keys.admin))
    assert again.json() == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("path", "body", "location"),
    [
        ("/v1/limits", {"max_concurrency": 0}, "body.max_concurrency"),
        ("/v1/limits", {"max_concurrency": 1_000_001}, "body.max_concurrency"),
        ("/v1/limits", {"rate_per_hour": 10**9}, "body.rate_per_hour"),
        ("/v1/limits", {"rate_per_second": "5"}, "body.rate_per_second"),
        ("/v1/limits", {"rate_per_second": 2.5}, "body.rate_per_second"),
        ("/v1/limits", {"rate_per_day": 5}, "body.rate_per_day"),
        ("/v1/policy", {"number_max_attempts": 0}, "body.number_max_attempts"),
        ("/v1/policy", {"number_max_attempts": True}, "body.number_max_attempts"),
        ("/v1/policy", {"number_window_seconds": 31 * 86400}, "body.number_window_seconds"),
        ("/v1/policy", {"number_window_seconds": 10**30}, "body.number_window_seconds"),
        ("/v1/policy", {"conversation_cooldown_seconds": -1}, "body.conversation_cooldown_seconds"),
        ("/v1/policy", {"cooldown": 5}, "body.cooldown"),
        ("/v1/policy", {"calling_hours": "21:00-08:00"}, "body.calling_hours"),
        ("/v1/policy", {"calling_hours": "08:00-12:00;11:00-20:00"}, "body.calling_hours"),
        ("/v1/policy", {"calling_hours": ""}, "body.calling_hours"),
        ("/v1/policy", {"calling_hours": 8}, "body.calling_hours"),
    ],
)
async def test_a_value_out_of_bounds_is_422_naming_it_and_changes_nothing(
    client: httpx.AsyncClient, keys: Keys, path: str, body: dict[str, Any], location: str
) -> None:
    before = await _get(client, keys.viewer, path)
    response = await client.put(path, json=body, headers=bearer(keys.admin))
    assert response.status_code == 422, response.text
    assert [e["location"] for e in response.json()["errors"]] == [location]
    assert await _get(client, keys.viewer, path) == before


async def test_a_body_that_is_not_an_object_is_422(client: httpx.AsyncClient, keys: Keys) -> None:
    for path in ("/v1/limits", "/v1/policy"):
        response = await client.put(path, json=[1, 2], headers=bearer(keys.admin))
        assert response.status_code == 422


async def test_the_command_lines_service_keeps_the_same_bounds(runtime: Runtime) -> None:
    # `dialer policy` and `dialer limits` call these very functions
    with pytest.raises(InvalidInput) as policy_error:
        await safety.set_policy(
            runtime.store, "acme", {"number_window_seconds": 31 * 86400}, NumberPolicy()
        )
    assert [p.location for p in policy_error.value.problems] == ["number_window_seconds"]
    with pytest.raises(InvalidInput) as limits_error:
        await tenants.set_limits(runtime.store, "acme", {"rate_per_second": 100_001})
    assert [p.location for p in limits_error.value.problems] == ["rate_per_second"]

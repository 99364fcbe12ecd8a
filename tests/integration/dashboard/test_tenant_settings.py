"""The dashboard's tenant page: limits and number policy shown to any key, changed by an admin
through CSRF'd forms with the API's bounds, one tenant at a time."""

from __future__ import annotations

import httpx

from tests.support.api import Keys, bearer
from tests.support.dashboard import sign_in

LIMITS_FORM = {
    "max_concurrency": "12",
    "rate_per_second": "",
    "rate_per_minute": "600",
    "rate_per_hour": "",
    "sms_per_second": "",
    "email_per_second": "5",
}


async def _limits(client: httpx.AsyncClient, token: str) -> dict[str, int | None]:
    limits: dict[str, int | None] = (await client.get("/v1/limits", headers=bearer(token))).json()
    return limits


async def test_an_admin_changes_the_limits_and_policy_from_the_page(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    csrf = await sign_in(client, keys.admin)
    page = await client.get("/dashboard/tenant")
    assert page.status_code == 200
    assert 'data-testid="limits-form"' in page.text
    assert 'data-testid="policy-form"' in page.text

    saved = await client.post("/dashboard/tenant/limits", data={**LIMITS_FORM, "csrf": csrf})
    assert saved.status_code == 303
    assert saved.headers["location"] == "/dashboard/tenant"
    shown = await client.get("/dashboard/tenant")
    assert "limits are saved" in shown.text
    assert 'name="max_concurrency" value="12"' in shown.text
    assert await _limits(client, keys.viewer) == {
        "max_concurrency": 12,
        "rate_per_second": None,
        "rate_per_minute": 600,
        "rate_per_hour": None,
        "sms_per_second": None,
        "email_per_second": 5,
    }
    assert await _limits(client, keys.other) == dict.fromkeys(LIMITS_FORM)  # globex untouched

    policy = {
        "csrf": csrf,
        "number_max_attempts": "2",
        "number_window_seconds": "7200",
        "conversation_cooldown_seconds": "",
        "calling_hours": " 09:00-20:00 ",
    }
    assert (await client.post("/dashboard/tenant/policy", data=policy)).status_code == 303
    read = (await client.get("/v1/policy", headers=bearer(keys.viewer))).json()
    assert read == {
        "number_max_attempts": 2,
        "number_window_seconds": 7200,
        "conversation_cooldown_seconds": 86400,  # empty: the deployment's default
        "calling_hours": "09:00-20:00",
    }
    backwards = {**policy, "calling_hours": "20:00-09:00"}
    refused = await client.post("/dashboard/tenant/policy", data=backwards)
    assert refused.status_code == 422
    assert "calling_hours" in refused.text
    assert (await client.get("/v1/policy", headers=bearer(keys.viewer))).json() == read


async def test_a_value_out_of_bounds_or_not_a_number_is_422_and_changes_nothing(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    csrf = await sign_in(client, keys.admin)
    for form in (
        {**LIMITS_FORM, "max_concurrency": "0"},
        {**LIMITS_FORM, "rate_per_second": "ten"},
        {**LIMITS_FORM, "rate_per_hour": "1" * 40},
    ):
        refused = await client.post("/dashboard/tenant/limits", data={**form, "csrf": csrf})
        assert refused.status_code == 422, form
        assert 'data-testid="error"' in refused.text
    too_long = {"csrf": csrf, "number_window_seconds": str(31 * 86400)}
    refused = await client.post("/dashboard/tenant/policy", data=too_long)
    assert refused.status_code == 422
    assert "number_window_seconds" in refused.text
    assert await _limits(client, keys.viewer) == dict.fromkeys(LIMITS_FORM)
    policy = (await client.get("/v1/policy", headers=bearer(keys.viewer))).json()
    assert policy["number_window_seconds"] == 86400


async def test_a_viewer_or_operator_reads_but_cannot_change(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    await client.put("/v1/limits", json={"max_concurrency": 7}, headers=bearer(keys.admin))
    for token in (keys.viewer, keys.operator):
        csrf = await sign_in(client, token)
        page = await client.get("/dashboard/tenant")
        assert page.status_code == 200
        assert 'data-limit="max_concurrency">7<' in page.text
        assert "limits-form" not in page.text
        for path in ("/dashboard/tenant/limits", "/dashboard/tenant/policy"):
            refused = await client.post(path, data={**LIMITS_FORM, "csrf": csrf})
            assert refused.status_code == 403
            assert "needs a key with the admin scope" in refused.text
        client.cookies.clear()
    assert (await _limits(client, keys.viewer))["max_concurrency"] == 7


async def test_a_form_without_the_sessions_token_is_refused(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    await sign_in(client, keys.admin)
    refused = await client.post("/dashboard/tenant/limits", data={**LIMITS_FORM, "csrf": "x"})
    assert refused.status_code == 403
    assert await _limits(client, keys.viewer) == dict.fromkeys(LIMITS_FORM)


async def test_the_page_needs_a_session(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/tenant")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"

"""/v1/webhook-endpoints: the secret shown once, URLs judged (https only, no internal hosts)
with 422 naming ``url``, changes, disabling, rotation, and each tenant seeing only its own."""

from __future__ import annotations

import httpx
import pytest

from dialer.bootstrap import Runtime
from tests.integration.outbound.conftest import subscribe, webhook_runtime
from tests.support.api import Keys, api_client, bearer, make_keys
from tests.support.webhook_receiver import Receiver

PATH = "/v1/webhook-endpoints"


async def test_an_endpoint_is_created_listed_changed_and_disabled(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver
) -> None:
    created = await subscribe(client, keys.admin, receiver, ["lead.finished"])
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True
    listed = (await client.get(PATH, headers=bearer(keys.viewer))).json()
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    one = await client.get(f"{PATH}/{created['id']}", headers=bearer(keys.viewer))
    assert "secret" not in one.json()

    changed = await client.patch(
        f"{PATH}/{created['id']}",
        json={"events": ["attempt.ended", "lead.finished"], "description": "the CRM"},
        headers=bearer(keys.admin),
    )
    assert changed.json()["events"] == ["attempt.ended", "lead.finished"]
    assert changed.json()["description"] == "the CRM"
    disabled = await client.post(f"{PATH}/{created['id']}/disable", headers=bearer(keys.admin))
    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] == "disabled by the tenant"
    test = await client.post(f"{PATH}/{created['id']}/test", headers=bearer(keys.admin))
    assert test.status_code == 409
    enabled = await client.patch(
        f"{PATH}/{created['id']}", json={"enabled": True}, headers=bearer(keys.admin)
    )
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None


async def test_a_viewer_cannot_manage_endpoints(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver
) -> None:
    body = {"url": receiver.url, "events": ["lead.finished"]}
    answer = await client.post(PATH, json=body, headers=bearer(keys.viewer))
    assert answer.status_code == 403


async def test_each_tenant_sees_only_its_own(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver
) -> None:
    mine = await subscribe(client, keys.admin, receiver, ["lead.finished"])
    other = keys.other_admin
    assert (await client.get(PATH, headers=bearer(other))).json() == []
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("POST", "/disable"),
        ("POST", "/rotate-secret"),
        ("POST", "/test"),
        ("GET", "/attempts"),
    ]:
        kwargs = {"json": {"description": "mine now"}} if method == "PATCH" else {}
        answer = await client.request(
            method, f"{PATH}/{mine['id']}{suffix}", headers=bearer(other), **kwargs
        )
        assert answer.status_code == 404, (method, suffix, answer.text)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://crm.example.com/hook", "https"),
        ("https://127.0.0.1/hook", "own address"),
        ("https://localhost:8443/hook", "internal"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hook", "own address"),
        ("https://metadata.google.internal/", "metadata"),
        ("ftp://crm.example.com/", "scheme"),
    ],
)
async def test_urls_are_judged_at_creation_and_change(
    database_url: str, url: str, why: str
) -> None:
    strict = {"webhook_allow_http": False, "webhook_allow_private": False}
    async with webhook_runtime(database_url, **strict) as runtime, api_client(runtime) as client:
        keys = await make_keys(runtime)
        answer = await client.post(
            PATH, json={"url": url, "events": ["lead.finished"]}, headers=bearer(keys.admin)
        )
        assert answer.status_code == 422
        [problem] = answer.json()["errors"]
        assert problem["location"] == "url"
        assert why in str(problem)
        ok = await client.post(
            PATH,
            json={"url": "https://crm.example.com/hook", "events": ["lead.finished"]},
            headers=bearer(keys.admin),
        )
        assert ok.status_code == 201
        patched = await client.patch(
            f"{PATH}/{ok.json()['id']}", json={"url": url}, headers=bearer(keys.admin)
        )
        assert patched.status_code == 422


async def test_unknown_event_types_are_refused(client: httpx.AsyncClient, keys: Keys) -> None:
    answer = await client.post(
        PATH,
        json={"url": "https://crm.example.com/hook", "events": ["call.exploded"]},
        headers=bearer(keys.admin),
    )
    assert answer.status_code == 422
    assert "events" in answer.text


async def test_rotation_returns_a_new_secret(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    created = await subscribe(client, keys.admin, receiver, ["lead.finished"])
    rotated = await client.post(
        f"{PATH}/{created['id']}/rotate-secret?overlap_hours=2", headers=bearer(keys.admin)
    )
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != created["secret"]
    until = rotated.json()["previous_secret_until"]
    assert until is not None
    too_long = await client.post(
        f"{PATH}/{created['id']}/rotate-secret?overlap_hours=500", headers=bearer(keys.admin)
    )
    assert too_long.status_code == 422

"""One problem shape for every 4xx and 5xx; size limits; never a 500 for bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dialer.adapters.store.engine import make_engine
from dialer.api.app import create_app
from dialer.bootstrap import Runtime
from dialer.services import owned_campaigns
from tests.support.api import BASE, Keys, bearer

PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}


def _is_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert set(body) == PROBLEM_KEYS
    assert body["status"] == status
    return body


async def test_malformed_json_is_400(client: httpx.AsyncClient, keys: Keys) -> None:
    headers = {**bearer(keys.operator), "Content-Type": "application/json"}
    response = await client.post("/v1/calls", content=b'{"to": ', headers=headers)
    _is_problem(response, 400)


async def test_wrong_types_are_422_with_each_location(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    call = {"to": 12, "from": None, "extra": 1}
    response = await client.post("/v1/calls", json=call, headers=bearer(keys.operator))
    body = _is_problem(response, 422)
    assert {e["location"] for e in body["errors"]} == {  # type: ignore[attr-defined]
        "body.to",
        "body.from",
        "body.extra",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/v1/campaigns/0",
        "/v1/campaigns/99999999999999999999",
        "/v1/calls?limit=0",
        "/v1/calls?cursor=x",
    ],
)
async def test_out_of_range_parameters_are_422(
    client: httpx.AsyncClient, keys: Keys, path: str
) -> None:
    _is_problem(await client.get(path, headers=bearer(keys.viewer)), 422)


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/v1/calls?since=0001-01-01T00:00:00%2B14:00", "query.since"),
        ("/v1/calls?until=9999-12-31T23:59:59-14:00", "query.until"),
        ("/v1/calls?campaign_id=99999999999999999999999", "query.campaign_id"),
        ("/v1/calls?campaign_id=0", "query.campaign_id"),
        ("/v1/calls?cursor=99999999999999999999999", "query.cursor"),
        ("/v1/campaigns?limit=99999999999999999999999", "query.limit"),
        ("/v1/calls/99999999999999999999999", "path.call_id"),
        ("/v1/leads/9223372036854775808", "path.lead_id"),
        ("/v1/dlq?cursor=99999999999999999999999", "query.cursor"),
    ],
)
async def test_parameters_out_of_range_are_422_naming_them(
    client: httpx.AsyncClient, keys: Keys, path: str, location: str
) -> None:
    body = _is_problem(await client.get(path, headers=bearer(keys.viewer)), 422)
    assert location in {e["location"] for e in body["errors"]}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/calls?since=0001-01-01T14:00:00%2B14:00",
        "/v1/calls?until=9999-12-31T09:59:59-14:00",
    ],
)
async def test_datetimes_at_the_edges_of_the_range_are_answered(
    client: httpx.AsyncClient, keys: Keys, path: str
) -> None:
    response = await client.get(path, headers=bearer(keys.viewer))
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


async def test_a_json_body_over_one_mib_is_413(client: httpx.AsyncClient, keys: Keys) -> None:
    big = b'{"name": "' + b"x" * (1 << 20) + b'"}'
    headers = {**bearer(keys.operator), "Content-Type": "application/json"}
    _is_problem(await client.post("/v1/campaigns", content=big, headers=headers), 413)

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post("/v1/campaigns", content=chunked(), headers=headers)
    _is_problem(response, 413)
    bad_length = {**headers, "Content-Length": "lots"}
    _is_problem(await client.post("/v1/campaigns", content=b"{}", headers=bad_length), 400)


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient, keys: Keys) -> None:
    _is_problem(await client.get("/v2/nothing"), 404)
    response = await client.delete("/v1/campaigns", headers=bearer(keys.admin))
    _is_problem(response, 405)
    assert response.headers["allow"]  # the methods the path does take


async def test_an_unexpected_error_is_a_500_that_hides_the_internals(
    runtime: Runtime, keys: Keys, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(owned_campaigns, "page", broken)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        response = await client.get("/v1/campaigns", headers=bearer(keys.viewer))
    body = _is_problem(response, 500)
    assert "secret" not in response.text
    assert body["title"] == "Internal Server Error"
    assert "secret internals" in caplog.text  # logged for the operator


async def test_an_unreachable_database_is_503(
    runtime: Runtime, client: httpx.AsyncClient, keys: Keys, tmp_path: Path
) -> None:
    working = runtime.store.engine
    runtime.store.engine = make_engine("postgresql://postgres@127.0.0.1:1/down")
    try:
        response = await client.get("/v1/campaigns", headers=bearer(keys.viewer))
        ready = await client.get("/readyz")
    finally:
        await runtime.store.engine.dispose()
        runtime.store.engine = working
    _is_problem(response, 503)
    assert response.headers["retry-after"] == "5"
    body = _is_problem(ready, 503)
    assert body["errors"] == [{"location": "database", "message": "not answering"}]

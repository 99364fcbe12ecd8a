"""Health, readiness, Prometheus /metrics and the tenant's JSON metrics."""

from __future__ import annotations

import re

import httpx

from dialer.adapters.telephony.twilio_signature import sign
from dialer.bootstrap import Runtime
from dialer.domain.statuses import AttemptStatus
from dialer.services.calls import end_attempt
from dialer.services.dispatch import Dispatcher
from tests.support.api import BASE, Keys, bearer, place
from tests.support.engine import HeldExecutor, dispatch_once


def _value(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "database": "ok",
        "redis": "not configured",
        "broker": "not configured",
    }


async def test_prometheus_metrics_count_calls_live_calls_and_webhooks(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    for i in range(3):
        await place(client, keys.operator, f"+121255501{i:02d}")
    await dispatch_once(runtime)
    log = (await client.get("/v1/calls", headers=bearer(keys.viewer))).json()["items"]
    await end_attempt(runtime.services, log[0]["id"], AttemptStatus.BUSY, "test")
    path = f"/webhooks/twilio/status?attempt={log[1]['id']}"
    params = {"CallSid": "CA" + "e" * 32, "CallStatus": "ringing", "SequenceNumber": "1"}
    signature = sign("rest-token", BASE + path, params)
    hook = await client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert hook.status_code == 204

    text = (await client.get("/metrics")).text
    assert _value(text, 'dialer_calls_ended_total{outcome="BUSY"}') == 1
    assert _value(text, 'dialer_calls_ended_total{outcome="COMPLETED"}') == 0
    assert _value(text, "dialer_live_calls") == 2
    assert _value(text, "dialer_global_max_concurrency") == 10000
    queue = log[0]["campaign_id"]
    assert _value(text, f'dialer_campaign_live_calls{{campaign="{queue}"}}') == 2
    assert _value(text, f'dialer_campaign_max_concurrency{{campaign="{queue}"}}') == 100
    assert _value(text, 'dialer_webhook_request_seconds_count{status="204"}') >= 1
    assert "dialer_calls_started_total" in text


async def test_tenant_metrics_show_only_the_tenants_figures(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    await place(client, keys.operator, "+12125550100")
    await place(client, keys.other, "+12125550101")
    await dispatch_once(runtime)
    mine = (await client.get("/v1/metrics", headers=bearer(keys.viewer))).json()
    assert mine["calls_by_status"] == {"QUEUED": 1}
    assert (mine["live_calls"], mine["global_live_calls"], mine["global_cap"]) == (1, 2, 10000)
    assert [c["live_calls"] for c in mine["running_campaigns"]] == [1]
    assert (await client.get("/v1/metrics")).status_code == 401


async def test_prometheus_shows_each_providers_breaker_and_pacing(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    await place(client, keys.operator, "+12125550150")
    assert runtime.guard is not None
    # A dispatcher with the provider's guard publishes the guard's state as it ticks.
    await Dispatcher(runtime.services, HeldExecutor(), guard=runtime.guard).run_once()
    account = runtime.guard.state().account
    text = (await client.get("/metrics")).text
    closed = f'dialer_provider_breaker_state{{account="{account}",state="closed"}}'
    opened = f'dialer_provider_breaker_state{{account="{account}",state="open"}}'
    assert _value(text, closed) == 1
    assert _value(text, opened) == 0
    assert _value(text, f'dialer_provider_breaker_opened_total{{account="{account}"}}') == 0
    rate = _value(text, f'dialer_provider_pacing_calls_per_second{{account="{account}"}}')
    assert rate == runtime.guard.state().rate

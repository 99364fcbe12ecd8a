"""One call, one trace: the API request that queued it, its dispatch, the provider request and
every status webhook, carried across moments through the trace context stored with the lead
and the attempt."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from dialer.api.app import create_app
from dialer.domain.phone import mask
from dialer.observability import tracing
from dialer.observability.otel import OtelBackend
from dialer.observability.setup import configure_tracing
from dialer.services.access import KeyScope, create_key
from dialer.settings import load_observability_settings
from tests.support.api import BASE, bearer
from tests.support.clock import T0
from tests.support.engine import EngineFactory
from tests.support.logs import dial_until_finished

NUMBER = "+12125550142"
CALLER = "+14155550100"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(OtelBackend(provider))
    try:
        yield exporter
    finally:
        tracing.install(None)
        provider.shutdown()


def _one(found: Iterable[ReadableSpan]) -> ReadableSpan:
    matching = list(found)
    assert len(matching) == 1, [s.name for s in matching]
    return matching[0]


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


async def test_a_call_is_one_trace_from_the_api_request_to_its_webhooks(
    engine: EngineFactory, spans: InMemorySpanExporter
) -> None:
    async with engine() as e:
        _, token = await create_key(e.store, "acme", KeyScope.OPERATOR, "tracing", T0)
        transport = httpx.ASGITransport(app=create_app(e.runtime))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            call = {"to": NUMBER, "from": CALLER}
            placed = await client.post("/v1/calls", json=call, headers=bearer(token))
            assert placed.status_code == 202, placed.text
            lead_id = placed.json()["id"]
            lead = (await dial_until_finished(e, client, token, [lead_id]))[lead_id]
    (attempt,) = lead["attempts"]
    finished = spans.get_finished_spans()

    request = _one(s for s in finished if s.name == "POST /v1/calls")
    assert request.kind is SpanKind.SERVER
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 202
    trace_id = request.context.trace_id

    dispatch = _one(s for s in finished if s.name == "dispatch lead")
    assert _parent_id(dispatch) == request.context.span_id
    assert dispatch.attributes == {
        "dialer.campaign_id": lead["campaign_id"],
        "dialer.lead_id": lead_id,
        "dialer.attempt_id": attempt["id"],
    }

    sent = _one(s for s in finished if s.name == "originate call")
    assert sent.kind is SpanKind.CLIENT
    assert _parent_id(sent) == dispatch.context.span_id
    assert sent.attributes is not None
    assert sent.attributes["dialer.attempt_id"] == attempt["id"]
    assert sent.attributes["dialer.to"] == mask(NUMBER)
    assert str(sent.attributes["dialer.call_sid"]).startswith("CA")

    events = [s for s in finished if s.name == "provider event"]
    # The call's answer, if it was answered, and its end: the callbacks asked of the provider.
    assert len(events) >= (2 if attempt["answered_at"] else 1)
    webhooks = [s for s in finished if s.name == "POST /webhooks/twilio/status"]
    assert len(webhooks) >= len(events)
    assert {w.kind for w in webhooks} == {SpanKind.SERVER}
    assert all(w.context.trace_id != trace_id for w in webhooks)  # the provider's requests
    webhook_ids = {w.context.span_id for w in webhooks}
    for event in events:
        assert _parent_id(event) == dispatch.context.span_id
        assert event.attributes is not None
        assert event.attributes["dialer.attempt_id"] == attempt["id"]
        assert event.attributes["dialer.call_sid"] == sent.attributes["dialer.call_sid"]
        # Linked to the webhook request that brought it.
        assert len(event.links) == 1
        assert event.links[0].context.span_id in webhook_ids
    assert events[-1].attributes is not None
    assert events[-1].attributes["dialer.effect"] == attempt["status"]

    for span in (request, dispatch, sent, *events):
        assert span.context.trace_id == trace_id
    everything = json.dumps(
        [dict(s.attributes or {}) for s in finished] + [s.name for s in finished]
    )
    assert NUMBER not in everything
    assert NUMBER[2:] not in everything


async def test_a_client_traceparent_makes_the_request_a_child(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await client.get("/healthz", headers={"traceparent": parent})
    request = _one(spans.get_finished_spans())
    assert request.name == "GET /healthz"
    assert f"{request.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert _parent_id(request) == 0xB7AD6B7169203331


def test_without_tracing_spans_are_no_ops_and_carry_nothing() -> None:
    assert not tracing.enabled()
    with tracing.span("anything", attributes={"dialer.lead_id": 1}) as span:
        assert span.traceparent is None
        assert tracing.current_traceparent() is None
        assert tracing.current_ids() is None


def test_tracing_is_turned_on_by_its_setting_only() -> None:
    try:
        off = load_observability_settings(tracing=False)
        assert not configure_tracing(off)
        assert not tracing.enabled()
        on = load_observability_settings(tracing=True, tracing_exporter="none")
        assert configure_tracing(on)
        with tracing.span("checked") as span:
            assert span.traceparent is not None
            assert tracing.current_traceparent() == span.traceparent
    finally:
        tracing.install(None)

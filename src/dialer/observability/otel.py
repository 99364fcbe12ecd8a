"""The OpenTelemetry side of ``dialer.observability.tracing`` (the ``tracing`` extra).

Imported only when tracing is turned on; an ImportError here means the extra is missing."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue as OtelValue

from dialer import __version__
from dialer.observability.tracing import Attributes, AttributeValue, Span, SpanKind

log = logging.getLogger(__name__)

_PROPAGATOR = TraceContextTextMapPropagator()
_KINDS = {
    SpanKind.INTERNAL: trace.SpanKind.INTERNAL,
    SpanKind.SERVER: trace.SpanKind.SERVER,
    SpanKind.CLIENT: trace.SpanKind.CLIENT,
}


def _traceparent_of(context: otel_context.Context) -> str | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier.get("traceparent")


def _context_from(traceparent: str) -> otel_context.Context | None:
    """The context a stored traceparent names; None when it is not a valid one."""
    context = _PROPAGATOR.extract({"traceparent": traceparent})
    valid = trace.get_current_span(context).get_span_context().is_valid
    return context if valid else None


class OtelSpan:
    def __init__(self, span: trace.Span) -> None:
        self.span = span

    @property
    def traceparent(self) -> str | None:
        if not self.span.get_span_context().is_valid:
            return None
        return _traceparent_of(trace.set_span_in_context(self.span))

    def set_attribute(self, key: str, value: AttributeValue | None) -> None:
        if value is not None:
            self.span.set_attribute(key, value)

    def rename(self, name: str) -> None:
        self.span.update_name(name)

    def record_error(self, exc: BaseException) -> None:
        self.span.record_exception(exc)
        self.span.set_status(trace.StatusCode.ERROR, type(exc).__name__)

    def end(self) -> None:
        self.span.end()


class OtelBackend:
    def __init__(self, provider: trace.TracerProvider) -> None:
        self.tracer = provider.get_tracer("dialer", __version__)

    def start(
        self,
        name: str,
        kind: SpanKind,
        parent: str | None,
        links: Sequence[str],
        attributes: Attributes,
    ) -> Span:
        context = _context_from(parent) if parent else None  # None: the current span's
        contexts = (_context_from(link) for link in links)
        span = self.tracer.start_span(
            name,
            context=context,
            kind=_KINDS[kind],
            attributes=_clean(attributes),
            links=[trace.Link(trace.get_current_span(c).get_span_context()) for c in contexts if c],
        )
        return OtelSpan(span)

    def activate(self, span: Span) -> object:
        if not isinstance(span, OtelSpan):
            return None
        return otel_context.attach(trace.set_span_in_context(span.span))

    def deactivate(self, token: object) -> None:
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]  # the token attach gave

    def current_traceparent(self) -> str | None:
        if not trace.get_current_span().get_span_context().is_valid:
            return None
        return _traceparent_of(otel_context.get_current())

    def current_ids(self) -> tuple[str, str] | None:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def _clean(attributes: Attributes) -> dict[str, OtelValue]:
    return {key: value for key, value in attributes.items() if value is not None}


def _exporter(name: str) -> tuple[SpanExporter, bool] | None:
    """The exporter by name, and whether to batch for it; None for "none"."""
    if name == "console":
        return ConsoleSpanExporter(out=sys.stderr, formatter=_one_line), False
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("the OTLP exporter is not installed: spans are not exported")
            return None
        return OTLPSpanExporter(), True
    if name != "none":
        log.warning("unknown trace exporter %r: spans are not exported", name)
    return None


def _one_line(span: ReadableSpan) -> str:
    text: str = span.to_json(indent=None)
    return text + "\n"


def make_provider(exporter: str, service: str) -> TracerProvider:
    """A tracer provider named after the service (OTEL_SERVICE_NAME wins), exporting to
    ``exporter`` (otlp, console or none); sampling from the standard OTEL_TRACES_SAMPLER."""
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(attributes))
    chosen = _exporter(exporter)
    if chosen is not None:
        span_exporter, batched = chosen
        processor = BatchSpanProcessor if batched else SimpleSpanProcessor
        provider.add_span_processor(processor(span_exporter))
    return provider

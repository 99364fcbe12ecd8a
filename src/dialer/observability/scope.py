"""One attempt's work, observed: its ids on every log record, and a span continuing the
attempt's trace. Used around origination and around each provider event."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import Token
from types import TracebackType
from typing import Any

from structlog.contextvars import bind_contextvars, reset_contextvars

from dialer.observability import tracing
from dialer.observability.tracing import Attributes, SpanKind


def _attributes(fields: Mapping[str, Any], extra: Attributes) -> dict[str, Any]:
    return {**{f"dialer.{k}": v for k, v in fields.items()}, **extra}


@contextmanager
def attempt_scope(
    name: str,
    fields: Mapping[str, Any],
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: str | None = None,
    attributes: Attributes | None = None,
) -> Iterator[tracing.Span]:
    """``fields`` (attempt_id, lead_id, campaign_id...) on every record logged inside, and a
    span (child of ``parent``, a stored traceparent) carrying them as attributes."""
    tokens = bind_contextvars(**fields)
    try:
        with tracing.span(
            name, kind=kind, parent=parent, attributes=_attributes(fields, attributes or {})
        ) as span:
            yield span
    finally:
        reset_contextvars(**tokens)


class LateScope:
    """An ``attempt_scope`` whose attempt is known only part-way through (a webhook names its
    attempt once the attempt is read): enter it first, ``start`` it when the attempt is known.
    Entered and left in one task, so nothing it binds outlives it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.span: tracing.Span = tracing.NO_SPAN
        self._tokens: Mapping[str, Token[Any]] = {}
        self._active: object = None

    def __enter__(self) -> LateScope:
        return self

    def start(
        self,
        fields: Mapping[str, Any],
        *,
        parent: str | None,
        attributes: Attributes | None = None,
    ) -> None:
        """Begin the span, a child of ``parent`` linked to the current span (the webhook's
        own request), and bind ``fields`` to the records from here on."""
        self._tokens = bind_contextvars(**fields)
        self.span = tracing.start_span(
            self.name,
            parent=parent,
            links=[tracing.current_traceparent()] if parent else [],
            attributes=_attributes(fields, attributes or {}),
        )
        self._active = tracing.activate(self.span)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.span.record_error(exc)
        tracing.deactivate(self._active)
        self.span.end()
        reset_contextvars(**self._tokens)

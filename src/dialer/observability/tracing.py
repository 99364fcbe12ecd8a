"""Tracing, whether or not OpenTelemetry is installed.

The code asks this module for spans; with DIALER_TRACING off, or without the ``tracing`` extra
(``pip install 'dialer[tracing]'``), every span is a no-op that costs a function call and
carries no context. With it on, spans go to OpenTelemetry (``dialer.observability.otel``,
installed by ``dialer.observability.setup``).

A call's story spans moments and processes: the API request that queued it, the dispatcher
tick that admitted it, the worker that sent it, the webhooks that report on it. The context
travels with the data: the W3C ``traceparent`` of the request is stored with the lead, the
dispatch span's with the attempt (and in the origination job), and each later span starts as
a child of the stored one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Protocol

import httpx

AttributeValue = str | int | float | bool
Attributes = Mapping[str, AttributeValue | None]


class SpanKind(StrEnum):
    INTERNAL = "internal"
    SERVER = "server"  # we answer a request (the API, a webhook)
    CLIENT = "client"  # we make a request (the provider)


class Span(Protocol):
    @property
    def traceparent(self) -> str | None:
        """This span's W3C traceparent, to store or send on; None when not recorded."""
        ...

    def set_attribute(self, key: str, value: AttributeValue | None) -> None: ...

    def rename(self, name: str) -> None: ...

    def record_error(self, exc: BaseException) -> None: ...

    def end(self) -> None: ...


class Backend(Protocol):
    def start(
        self,
        name: str,
        kind: SpanKind,
        parent: str | None,
        links: Sequence[str],
        attributes: Attributes,
    ) -> Span: ...

    def activate(self, span: Span) -> object:
        """Make ``span`` current in this context; returns what ``deactivate`` needs."""
        ...

    def deactivate(self, token: object) -> None: ...

    def current_traceparent(self) -> str | None: ...

    def current_ids(self) -> tuple[str, str] | None: ...


class _NoSpan:
    traceparent = None

    def set_attribute(self, key: str, value: AttributeValue | None) -> None:
        return None

    def rename(self, name: str) -> None:
        return None

    def record_error(self, exc: BaseException) -> None:
        return None

    def end(self) -> None:
        return None


NO_SPAN = _NoSpan()


class _Off:
    """Tracing off: nothing is recorded, nothing is carried."""

    def start(
        self,
        name: str,
        kind: SpanKind,
        parent: str | None,
        links: Sequence[str],
        attributes: Attributes,
    ) -> Span:
        return NO_SPAN

    def activate(self, span: Span) -> object:
        return None

    def deactivate(self, token: object) -> None:
        return None

    def current_traceparent(self) -> str | None:
        return None

    def current_ids(self) -> tuple[str, str] | None:
        return None


_OFF = _Off()
_backend: Backend = _OFF


def install(backend: Backend | None) -> None:
    """Use ``backend`` from now on (None: tracing off). Tests install an in-memory one."""
    global _backend
    _backend = backend or _OFF


def enabled() -> bool:
    return _backend is not _OFF


def start_span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: str | None = None,
    links: Sequence[str | None] = (),
    attributes: Attributes | None = None,
) -> Span:
    """A span that is not made current (end it yourself). ``parent``: a stored traceparent
    (None: the current span, if any); ``links``: other traceparents this span relates to."""
    return _backend.start(name, kind, parent, [x for x in links if x], attributes or {})


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: str | None = None,
    links: Sequence[str | None] = (),
    attributes: Attributes | None = None,
) -> Iterator[Span]:
    """A span, current inside the block; an exception leaving the block is recorded."""
    opened = start_span(name, kind=kind, parent=parent, links=links, attributes=attributes)
    token = _backend.activate(opened)
    try:
        yield opened
    except BaseException as exc:
        opened.record_error(exc)
        raise
    finally:
        _backend.deactivate(token)
        opened.end()


def activate(opened: Span) -> object:
    """Make ``opened`` the current span; give the result to ``deactivate`` when done."""
    return _backend.activate(opened)


def deactivate(token: object) -> None:
    _backend.deactivate(token)


def current_traceparent() -> str | None:
    return _backend.current_traceparent()


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span, as hex, for log records."""
    return _backend.current_ids()


async def send_traceparent(request: httpx.Request) -> None:
    """An httpx request hook: the provider receives the current span's W3C traceparent."""
    traceparent = _backend.current_traceparent()
    if traceparent is not None:
        request.headers["traceparent"] = traceparent

"""Structured logs: every record, from ``structlog`` or the standard library, one JSON line.

The code logs with ``logging.getLogger(__name__)`` as usual. ``configure_logging`` (run once as
every ``dialer`` command starts) puts one handler on the root logger whose formatter is
structlog's ``ProcessorFormatter``: each record gets a timestamp, its level, its logger name,
the context bound with ``bind`` (request id, attempt, lead, campaign, task ids), the current
trace and span ids, and is rendered as a JSON line on stderr — or as readable text for a person
at a terminal (DIALER_LOG_FORMAT=console).

Phone numbers are masked where they are logged (``dialer.domain.phone.mask``); the last
processor masks any number-like text left in a record all the same, so a number slipped into
an error message or a traceback never reaches the log in full.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, merge_contextvars
from structlog.types import EventDict, Processor

from dialer.domain.phone import mask
from dialer.observability import tracing
from dialer.settings import ObservabilitySettings

HANDLER_NAME = "dialer-structured"
# Commands run as services: their logs go to collectors, so JSON unless told otherwise.
SERVER_COMMANDS = frozenset(
    {"serve", "dispatcher", "worker", "beat", "webhooks", "simulator", "up"}
)

# An E.164 number, a run of 7+ digits, or a North American number written with separators;
# never inside a longer word (a provider's call id, a hex request id).
_NUMBER_LIKE = re.compile(
    r"(?<![\w+])\+?\d{7,15}(?!\w)"
    r"|(?<![\w+])(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}(?!\w)"
)
# Fields that are ours and never a number: left as they are, so they stay searchable.
_NOT_MASKED = frozenset(
    {"timestamp", "level", "logger", "request_id", "trace_id", "span_id", "task_id"}
)


def mask_text(text: str) -> str:
    """Every number-like part of ``text`` masked: '+14155550123' -> '+1415*****23'."""
    return _NUMBER_LIKE.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    found = match.group()
    digits = "".join(c for c in found if c.isdigit())
    return mask(f"+{digits}" if found.startswith("+") else digits)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _masked(item) for key, item in value.items()}
    return value


def mask_phone_numbers(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """The last processor before rendering: defence in depth for numbers not masked at the
    call site (a string field, a nested value, a formatted exception)."""
    for key, value in event_dict.items():
        if key not in _NOT_MASKED:
            event_dict[key] = _masked(value)
    return event_dict


def add_trace_ids(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """The current trace and span ids, when a span is being recorded: logs and traces meet."""
    ids = tracing.current_ids()
    if ids is not None:
        event_dict.setdefault("trace_id", ids[0])
        event_dict.setdefault("span_id", ids[1])
    return event_dict


# Copies of the message that libraries leave on a record (uvicorn's colour copy, among them).
_DUPLICATES = ("message", "color_message")
_FIRST = ("timestamp", "level", "logger", "event")


def _drop_duplicates(_: Any, __: str, event_dict: EventDict) -> EventDict:
    for key in _DUPLICATES:
        event_dict.pop(key, None)
    return event_dict


def _in_reading_order(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """When, how bad, where from and what first; the context after."""
    first = {key: event_dict.pop(key) for key in _FIRST if key in event_dict}
    return {**first, **event_dict}


def _shared_processors(*, foreign: bool = False) -> list[Processor]:
    # A standard-library record's ``extra={...}`` fields become fields of the line.
    extras: list[Processor] = [structlog.stdlib.ExtraAdder(), _drop_duplicates] if foreign else []
    return [
        *extras,
        merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
    ]


def _renderer(format_: str, stream: TextIO) -> Processor:
    if format_ == "console":
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return structlog.processors.JSONRenderer(sort_keys=False)


def choose_format(settings: ObservabilitySettings, command: str | None, stream: TextIO) -> str:
    """JSON by default; readable text when a person runs a command at a terminal."""
    if settings.log_format is not None:
        return settings.log_format
    if command in SERVER_COMMANDS or not stream.isatty():
        return "json"
    return "console"


def choose_level(settings: ObservabilitySettings, verbose: bool = False) -> int:
    """DIALER_LOG_LEVEL, else WARNING; --verbose lowers either to INFO."""
    level = logging.getLevelName(settings.log_level) if settings.log_level else logging.WARNING
    return min(int(level), logging.INFO) if verbose else int(level)


def configure_logging(
    settings: ObservabilitySettings,
    *,
    command: str | None = None,
    verbose: bool = False,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route every log record through structlog to ``stream`` (stderr). Safe to call again:
    the handler it installed before is replaced, other handlers are left alone."""
    out = stream or sys.stderr
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(foreign=True),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            mask_phone_numbers,
            _in_reading_order,
            _renderer(choose_format(settings, command, out), out),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(choose_level(settings, verbose))
    return handler


def set_verbose(verbose: bool) -> None:
    """A command's --verbose: at least INFO from here on."""
    if verbose:
        root = logging.getLogger()
        root.setLevel(min(root.level or logging.WARNING, logging.INFO))


# ---------------------------------------------------------------- context


def bind(**fields: Any) -> None:
    """Add fields to every record logged from here on in this context (task, request)."""
    bind_contextvars(**fields)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Fields on every record logged inside the block; ``None`` values are left out."""
    with bound_contextvars(**{k: v for k, v in fields.items() if v is not None}):
        yield


def attempt_fields(
    attempt_id: int | None,
    lead_id: int | None = None,
    campaign_id: int | None = None,
    call_sid: str | None = None,
) -> MutableMapping[str, Any]:
    """The ids a record about one attempt carries (the names every log search uses)."""
    fields = {
        "attempt_id": attempt_id,
        "lead_id": lead_id,
        "campaign_id": campaign_id,
        "call_sid": call_sid,
    }
    return {k: v for k, v in fields.items() if v is not None}

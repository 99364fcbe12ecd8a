"""Celery processes keep Dialer's logging, and every record made while a task runs carries
the task's id and name."""

from __future__ import annotations

from typing import Any

from celery.signals import setup_logging, task_postrun, task_prerun
from structlog.contextvars import bind_contextvars, unbind_contextvars


def _keep_our_logging(**_: Any) -> None:
    """Connected to ``setup_logging``: Celery then leaves logging as the command set it."""


def _task_started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    bind_contextvars(task_id=task_id, task=getattr(task, "name", None))


def _task_ended(**_: Any) -> None:
    unbind_contextvars("task_id", "task")


def instrument_celery() -> None:
    """Idempotent: Celery's signals keep one receiver per function."""
    setup_logging.connect(_keep_our_logging, weak=False)
    task_prerun.connect(_task_started, weak=False)
    task_postrun.connect(_task_ended, weak=False)

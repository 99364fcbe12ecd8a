"""The Celery application of a distributed deployment, built from settings.

Crash safety is in its configuration: a task is acknowledged only after it ran (``acks_late``)
and put back when its worker process dies (``reject_on_worker_lost``), each worker process
takes one task at a time (prefetch 1) and is replaced after ``worker_max_tasks_per_child``
tasks or ``worker_max_memory_per_child`` KiB. Tasks are idempotent (the attempts' sent
marker), so a redelivered task is harmless.

Queues: originations go to ``DIALER_DEFAULT_QUEUE`` or to the queue DIALER_QUEUE_ROUTES names
for the campaign (or its tenant); beat's periodic tasks go to ``<default>.maintenance``.
Priority: a campaign's priority (0..100, higher first) becomes a message priority (0..9).
RabbitMQ serves higher numbers first (queues are declared with ``x-max-priority``); the
Redis transport keeps one list per priority and serves the lowest number first, so the
number is inverted there.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from dialer.ports import CampaignRoute
from dialer.settings import Settings

ORIGINATE_TASK = "dialer.originate_batch"
REAP_TASK = "dialer.reap"
RECONCILE_TASK = "dialer.reconcile"
HOUSEKEEPING_TASK = "dialer.housekeeping"

MAX_PRIORITY = 9
TASK_TIME_LIMIT = 600  # seconds: a task past this is killed (and redelivered)


def is_redis_broker(broker_url: str) -> bool:
    return broker_url.startswith(("redis://", "rediss://", "redis+socket://"))


def maintenance_queue(settings: Settings) -> str:
    return f"{settings.default_queue}.maintenance"


def worker_queues(settings: Settings) -> list[str]:
    """What a worker consumes unless told otherwise: the default and maintenance queues."""
    return [settings.default_queue, maintenance_queue(settings)]


def queue_for(route: CampaignRoute, settings: Settings) -> str:
    routes = settings.queue_route_map
    return (
        routes.get(f"campaign:{route.campaign}")
        or routes.get(f"tenant:{route.tenant}")
        or settings.default_queue
    )


def message_priority(campaign_priority: int, broker_url: str) -> int:
    level = max(0, min(MAX_PRIORITY, round(campaign_priority * MAX_PRIORITY / 100)))
    return MAX_PRIORITY - level if is_redis_broker(broker_url) else level


def make_celery_app(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise ValueError("a Celery app needs DIALER_BROKER_URL")
    app = Celery("dialer", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_time_limit=TASK_TIME_LIMIT,
        task_default_queue=settings.default_queue,
        task_queue_max_priority=MAX_PRIORITY + 1,
        task_default_priority=message_priority(50, settings.broker_url),
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=settings.worker_max_tasks_per_child,
        worker_max_memory_per_child=settings.worker_max_memory_per_child,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_enable_remote_control=False,  # heartbeats in the store say who is alive
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(settings),
        beat_schedule=beat_schedule(settings),
    )
    return app


def transport_options(settings: Settings) -> dict[str, Any]:
    broker_url = settings.broker_url or ""
    if not is_redis_broker(broker_url):
        return {"confirm_publish": True}  # a publish returns once RabbitMQ has the message
    visibility = settings.broker_visibility_timeout
    return {
        # A task not acknowledged within this time (its worker died) is delivered again.
        "visibility_timeout": visibility,
        "unacked_restore_interval": max(1, min(10, visibility // 5)),
        "unacked_restore_throttle": 1,
        "priority_steps": list(range(MAX_PRIORITY + 1)),
        "queue_order_strategy": "priority",
        "global_keyprefix": f"{settings.redis_namespace}:celery:",
    }


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Each periodic task expires after one period: a backlog never runs stale copies."""
    queue = maintenance_queue(settings)
    periods = {
        "reap": (REAP_TASK, settings.reaper_seconds),
        "reconcile": (RECONCILE_TASK, settings.reconcile_seconds),
        "housekeeping": (HOUSEKEEPING_TASK, settings.housekeeping_seconds),
    }
    return {
        name: {
            "task": task,
            "schedule": period,
            "options": {"queue": queue, "expires": period, "priority": top_priority(settings)},
        }
        for name, (task, period) in periods.items()
    }


def top_priority(settings: Settings) -> int:
    return message_priority(100, settings.broker_url or "")

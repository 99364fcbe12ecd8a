"""Operations: liveness, readiness (database, Redis, broker), Prometheus metrics, and the
same figures as JSON for one tenant."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from dialer import metrics
from dialer.api.auth import RuntimeDep, Viewer
from dialer.api.problems import PROBLEM_RESPONSES, problem
from dialer.bootstrap import Runtime
from dialer.domain.channels import Channel
from dialer.domain.statuses import MessageStatus
from dialer.errors import Problem
from dialer.services.figures import snapshot

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"], responses=PROBLEM_RESPONSES)

CHECK_SECONDS = 2.0


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    checks: dict[str, str] = Field(description="Each dependency: ok, or not configured")


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up (says nothing of its dependencies: see /readyz)."""
    return Health(status="ok")


async def _database(runtime: Runtime) -> None:
    await runtime.store.ping()


async def _redis(runtime: Runtime) -> None:
    await runtime.services.admission.ping()


def _broker_sync(url: str) -> None:
    from kombu.connection import Connection

    with Connection(url, connect_timeout=CHECK_SECONDS) as conn:  # type: ignore[no-untyped-call]
        conn.ensure_connection(max_retries=1)


async def _broker(runtime: Runtime) -> None:
    url = runtime.settings.broker_url
    if url:
        await asyncio.to_thread(_broker_sync, url)


@router.get("/readyz", response_model=Ready)
async def readyz(runtime: RuntimeDep) -> Response:
    """Ready to serve: the database answers, and Redis and the broker when configured."""
    configured = {
        "database": True,
        "redis": bool(runtime.settings.redis_url),
        "broker": bool(runtime.settings.broker_url),
    }
    checks = {"database": _database, "redis": _redis, "broker": _broker}
    results: dict[str, str] = {}
    failures: list[Problem] = []
    for name, check in checks.items():
        if not configured[name]:
            results[name] = "not configured"
            continue
        try:
            await asyncio.wait_for(check(runtime), CHECK_SECONDS)
            results[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; the reason is logged
            log.warning("readiness: %s is not answering: %r", name, exc)
            failures.append(Problem(name, "not answering"))
    if failures:
        return problem(503, detail="a dependency is not answering", errors=failures)
    return Response(
        Ready(status="ready", checks=results).model_dump_json(), 200, media_type="application/json"
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {metrics.CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}}
    },
)
async def prometheus(runtime: RuntimeDep) -> Response:
    """Prometheus text format. Unauthenticated, like most exporters: keep it off the public
    interface (or behind the proxy's own auth)."""
    services = runtime.services
    read = partial(snapshot, services)
    await metrics.refresh(read, services, runtime.settings.metrics_cache_seconds)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


class CampaignLoadOut(BaseModel):
    campaign_id: int
    name: str
    live_calls: int
    cap: int


class MetricsOut(BaseModel):
    calls_started: int
    calls_by_status: dict[str, int]
    live_calls: int = Field(description="The tenant's calls live now")
    global_live_calls: int
    global_cap: int
    running_campaigns: list[CampaignLoadOut]
    messages: dict[str, dict[str, int]] = Field(
        description="The tenant's messages of SMS and email steps, by channel then status"
    )


@router.get("/v1/metrics", response_model=MetricsOut)
async def tenant_metrics(caller: Viewer, runtime: RuntimeDep) -> MetricsOut:
    """The tenant's figures: calls started and by status, live calls against caps, and
    messages by channel and status."""
    mine = await snapshot(runtime.services, caller.tenant_id)
    usage = await runtime.services.admission.usage()
    return MetricsOut(
        calls_started=mine.calls_started,
        calls_by_status={s.value: n for s, n in mine.calls_by_status.items()},
        live_calls=mine.live_calls,
        global_live_calls=usage.global_active,
        global_cap=mine.global_cap,
        running_campaigns=[
            CampaignLoadOut(campaign_id=c.campaign_id, name=c.name, live_calls=c.live, cap=c.cap)
            for c in mine.campaigns
        ],
        messages=_by_channel(mine.messages),
    )


def _by_channel(counts: dict[tuple[Channel, MessageStatus], int]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for (channel, status), count in sorted(counts.items()):
        nested.setdefault(channel.value, {})[status.value] = count
    return nested

"""Every Prometheus metric Dialer exposes, defined in this one module.

Two kinds: figures read from the store and admission at scrape time (calls started and ended,
live calls against caps: true across every process of a deployment), and figures measured in
this process (webhook latency). ``refresh()`` reads the former; ``exposition()`` renders all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dialer.domain.breaker import BreakerState, ProviderHealth
from dialer.domain.statuses import TERMINAL_ATTEMPT, AttemptStatus, CampaignStatus
from dialer.services.context import Services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

registry = CollectorRegistry(auto_describe=True)

webhook_seconds = Histogram(
    "dialer_webhook_request_seconds",
    "Time to handle a provider webhook, from request to answer.",
    ["status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=registry,
)


@dataclass(frozen=True)
class CampaignLoad:
    campaign_id: int
    name: str
    live: int
    cap: int


@dataclass(frozen=True)
class Snapshot:
    """What the store and admission say now (for one tenant, or for all)."""

    calls_started: int = 0
    calls_ended: dict[AttemptStatus, int] = field(default_factory=dict)
    calls_by_status: dict[AttemptStatus, int] = field(default_factory=dict)
    live_calls: int = 0
    global_cap: int = 0
    campaigns: tuple[CampaignLoad, ...] = ()
    providers: tuple[ProviderHealth, ...] = ()  # breaker and pacing, as the dispatchers last saw


async def snapshot(services: Services, tenant_id: int | None = None) -> Snapshot:
    usage = await services.admission.usage()
    async with services.store.unit() as uow:
        started, by_status = await uow.attempt_totals(tenant_id)
        running = await uow.campaigns_in([CampaignStatus.RUNNING])
        providers = tuple(await uow.provider_health()) if tenant_id is None else ()
    mine = [c for c in running if tenant_id is None or c.tenant_id == tenant_id]
    live = usage.global_active if tenant_id is None else usage.by_tenant.get(tenant_id, 0)
    return Snapshot(
        calls_started=started,
        calls_ended={s: n for s, n in by_status.items() if s in TERMINAL_ATTEMPT},
        calls_by_status=by_status,
        live_calls=live,
        global_cap=services.limits.global_max,
        campaigns=tuple(
            CampaignLoad(c.id, c.name, usage.by_campaign.get(c.id, 0), c.settings.max_concurrency)
            for c in mine
        ),
        providers=providers,
    )


class _StoreCollector(Collector):
    """Renders the latest snapshot; ``refresh`` replaces it before each scrape."""

    def __init__(self) -> None:
        self.latest = Snapshot()

    def collect(self) -> Iterator[Metric]:
        s = self.latest
        yield CounterMetricFamily(
            "dialer_calls_started", "Calls sent to the provider.", value=s.calls_started
        )
        ended = CounterMetricFamily(
            "dialer_calls_ended", "Calls ended, by outcome.", labels=["outcome"]
        )
        for status in sorted(TERMINAL_ATTEMPT):
            ended.add_metric([status.value], s.calls_ended.get(status, 0))
        yield ended
        yield GaugeMetricFamily("dialer_live_calls", "Calls live now.", value=s.live_calls)
        yield GaugeMetricFamily(
            "dialer_global_max_concurrency", "The global cap.", value=s.global_cap
        )
        live = GaugeMetricFamily(
            "dialer_campaign_live_calls", "Calls live now, by campaign.", labels=["campaign"]
        )
        cap = GaugeMetricFamily(
            "dialer_campaign_max_concurrency", "Cap of each running campaign.", labels=["campaign"]
        )
        for load in s.campaigns:
            live.add_metric([str(load.campaign_id)], load.live)
            cap.add_metric([str(load.campaign_id)], load.cap)
        yield live
        yield cap
        yield from _provider_metrics(s.providers)


def _provider_metrics(providers: tuple[ProviderHealth, ...]) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "dialer_provider_breaker_state",
        "Circuit breaker of each provider account (1 for its current state).",
        labels=["account", "state"],
    )
    opened = CounterMetricFamily(
        "dialer_provider_breaker_opened", "Times the breaker has opened.", labels=["account"]
    )
    rate = GaugeMetricFamily(
        "dialer_provider_pacing_calls_per_second",
        "Start rate the provider is paced at (lowered on 429s, recovering).",
        labels=["account"],
    )
    for health in providers:
        for candidate in BreakerState:
            state.add_metric([health.account, candidate.value], candidate is health.breaker_state)
        opened.add_metric([health.account], health.times_opened)
        rate.add_metric([health.account], health.rate)
    yield state
    yield opened
    yield rate


_store_collector = _StoreCollector()
registry.register(_store_collector)


async def refresh(services: Services) -> None:
    _store_collector.latest = await snapshot(services)


def exposition() -> bytes:
    return generate_latest(registry)

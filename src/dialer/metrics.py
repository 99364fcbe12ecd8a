"""Every Prometheus metric Dialer exposes, defined in this one module (docs/observability.md).

Two kinds:

* Figures read from the store and admission at scrape time: calls started and ended, calls
  live against each cap (global, tenant, campaign), the due-lead backlog, the dead-letter
  queue, the providers' breakers, the messages of SMS and email steps by status. True
  across every process of a deployment; ``dialer serve`` renders them at /metrics.
  ``refresh()`` reads them through ``SnapshotCache``.
* Figures measured in this process (``process_registry``): admission refusals, dispatch lag,
  provider errors, webhook latency. ``dialer serve`` includes them in /metrics; a dispatcher,
  worker or webhook listener serves its own on DIALER_METRICS_PORT (``process_exporter``,
  ``worker_exporter``).

Why the store's figures are cached: counting calls started and ended aggregates every attempt
ever made (about 150 ms on a million attempts in PostgreSQL), and several scrapers (Prometheus
replicas, dashboards) would each pay it. A snapshot is read at most once per
DIALER_METRICS_CACHE_SECONDS, and scrapes that arrive while it is being read wait for that
read. Counters from the store stay monotonic (attempts are never deleted), merely up to a few
seconds old, which is finer than any scrape interval.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    start_http_server,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from dialer.domain.breaker import BreakerState, ProviderHealth
from dialer.domain.channels import Channel
from dialer.domain.figures import CampaignLoad, Snapshot, TenantLoad
from dialer.domain.statuses import TERMINAL_ATTEMPT, MessageStatus
from dialer.errors import (
    ProviderAuthFailed,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Counters and histograms are exposed without their *_created series: they double the series
# count, and no dashboard or alert of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# ------------------------------------------------------------ measured in this process

process_registry = CollectorRegistry(auto_describe=True)

webhook_seconds = Histogram(
    "dialer_webhook_request_seconds",
    "Time to handle a provider webhook, from request to answer.",
    ["status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=process_registry,
)

admission_refusals = Counter(
    "dialer_admission_refusals",
    "Calls the dispatcher did not start because a limit refused them: a cap, a rate, the "
    "number in another call, or the number policy (frequency cap, cool-down).",
    ["campaign", "reason"],
    registry=process_registry,
)

dispatch_lag = Histogram(
    "dialer_dispatch_lag_seconds",
    "How late each lead was dispatched after it became callable (due, its campaign running, "
    "its calling window open), on the dialer's clock.",
    ["campaign"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
    registry=process_registry,
)

send_wait = Histogram(
    "dialer_send_wait_seconds",
    "How long each call waited for its send slot on its rate limiters before going to the "
    "provider, on the dialer's clock: 0 unless the broker and workers bunched admitted calls.",
    buckets=(0.0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=process_registry,
)

provider_errors = Counter(
    "dialer_provider_errors",
    "Requests to create a call that the provider did not accept, by kind: throttled (429), "
    "unavailable (5xx, connection refused), auth_failed (401/403), rejected (other 4xx), "
    "timeout (no answer in time: the call may exist).",
    ["account", "kind"],
    registry=process_registry,
)

pre_dial_seconds = Histogram(
    "dialer_pre_dial_seconds",
    "Time each call's pre-dial hook took, from the request to its answer or failure, by what "
    "it said: proceed, cancel, defer, or error (timeout, refused, bad answer: on_error "
    "applied). It counts against call setup.",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
    registry=process_registry,
)

pre_dial_in_flight = Gauge(
    "dialer_pre_dial_in_flight",
    "Pre-dial hooks being asked now by this process: calls admitted (their capacity held) "
    "and waiting for the tenant's answer.",
    registry=process_registry,
)

send_slots_missed = Counter(
    "dialer_send_slots_missed",
    "Send slots a call or message woke up too late for (a busy event loop, a slow commit): "
    "the slot was given up and a later one taken, so that sends stay spaced at the provider.",
    ["channel"],
    registry=process_registry,
)

unsent_originations = Gauge(
    "dialer_unsent_originations",
    "Calls admitted and handed to the executor but not yet sent to the provider, across the "
    "deployment, as this dispatcher last read them before a claim (DIALER_DISPATCH_MAX_UNSENT "
    "bounds them).",
    registry=process_registry,
)


spend = Counter(
    "dialer_spend",
    "What the calls and messages that ended cost by the rate cards, in the card's currency "
    "(a charge is counted once, when it is stored).",
    ["tenant", "channel", "currency"],
    registry=process_registry,
)
unpriced = Counter(
    "dialer_unpriced",
    "Calls and messages that ended with no rate card price for their destination: their cost "
    "is not known (load a card that covers them).",
    ["channel"],
    registry=process_registry,
)
budget_pauses = Counter(
    "dialer_budget_pauses",
    "Campaigns paused because a total budget (the campaign's or its tenant's) is spent, by "
    "which one: campaign_budget or tenant_budget.",
    ["campaign", "budget"],
    registry=process_registry,
)
outbound_webhooks = Counter(
    "dialer_outbound_webhooks",
    "Tries to deliver an event webhook to a tenant's endpoint, by outcome: delivered (2xx), "
    "retry (another answer or none: tried again later), dead (given up: a dead letter), gone "
    "(410: the endpoint is disabled).",
    ["outcome"],
    registry=process_registry,
)

outbound_webhook_seconds = Histogram(
    "dialer_outbound_webhook_seconds",
    "Time for a tenant's endpoint to answer an event webhook (answered tries only).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=process_registry,
)


def error_kind(error: ProviderError) -> str:
    """The ``kind`` label of a provider error (subclasses before their parents)."""
    kinds: tuple[tuple[type[ProviderError], str], ...] = (
        (ProviderThrottled, "throttled"),
        (ProviderAuthFailed, "auth_failed"),
        (ProviderUnavailable, "unavailable"),
        (ProviderRejected, "rejected"),
        (ProviderOutcomeUnknown, "timeout"),
    )
    return next((kind for cls, kind in kinds if isinstance(error, cls)), "other")


# ------------------------------------------------------------ read from the store


SnapshotReader = Callable[[], Awaitable[Snapshot]]


class SnapshotCache:
    """The latest snapshot of every tenant's figures, read at most once per ``max_age``
    seconds; a scrape arriving while a read is under way waits for that read."""

    def __init__(self) -> None:
        self.latest = Snapshot()
        self._owner: object = None  # whose figures ``latest`` holds
        self._read_at = -math.inf
        self._reading: asyncio.Task[Snapshot] | None = None

    async def get(self, read: SnapshotReader, owner: object, max_age: float) -> Snapshot:
        """``read`` takes a fresh snapshot; ``owner`` names whose figures it reads (a cached
        snapshot of another deployment's services is never handed out)."""
        if self._owner is owner and time.monotonic() - self._read_at < max_age:
            return self.latest
        task = self._reading
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            task = self._reading = asyncio.create_task(self._read(read, owner))
        # Shielded: a scraper that hangs up must not cancel the read others are waiting for.
        return await asyncio.shield(task)

    async def _read(self, read: SnapshotReader, owner: object) -> Snapshot:
        latest = await read()
        self.latest, self._owner, self._read_at = latest, owner, time.monotonic()
        return latest


class _StoreCollector(Collector):
    """Renders the cache's latest snapshot."""

    def __init__(self, cache: SnapshotCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        s = self.cache.latest
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
        yield from _tenant_metrics(s.tenants)
        yield from _campaign_metrics(s.campaigns)
        yield GaugeMetricFamily(
            "dialer_dead_letters",
            "Dead letters waiting for an operator (neither replayed nor discarded).",
            value=s.dead_letters,
        )
        yield from _provider_metrics(s.providers)
        yield _message_metric(s.messages)


MESSAGE_CHANNELS = (Channel.SMS, Channel.EMAIL)


def _message_metric(counts: dict[tuple[Channel, MessageStatus], int]) -> Metric:
    """Every channel and status, 0 included: a status reached for the first time is a step
    of a known series, not a series appearing from nowhere."""
    family = GaugeMetricFamily(
        "dialer_messages",
        "Messages of SMS and email steps, by channel and current status.",
        labels=["channel", "status"],
    )
    for channel in MESSAGE_CHANNELS:
        for status in MessageStatus:
            family.add_metric([channel.value, status.value], counts.get((channel, status), 0))
    return family


def _tenant_metrics(tenants: tuple[TenantLoad, ...]) -> Iterator[Metric]:
    live = GaugeMetricFamily(
        "dialer_tenant_live_calls", "Calls live now, by tenant.", labels=["tenant"]
    )
    cap = GaugeMetricFamily(
        "dialer_tenant_max_concurrency",
        "Each tenant's cap (absent for a tenant without one).",
        labels=["tenant"],
    )
    for tenant in tenants:
        live.add_metric([str(tenant.tenant_id)], tenant.live)
        if tenant.cap is not None:
            cap.add_metric([str(tenant.tenant_id)], tenant.cap)
    yield live
    yield cap


def _campaign_metrics(campaigns: tuple[CampaignLoad, ...]) -> Iterator[Metric]:
    live = GaugeMetricFamily(
        "dialer_campaign_live_calls", "Calls live now, by campaign.", labels=["campaign"]
    )
    cap = GaugeMetricFamily(
        "dialer_campaign_max_concurrency", "Cap of each running campaign.", labels=["campaign"]
    )
    due = GaugeMetricFamily(
        "dialer_due_leads",
        "Leads of each running campaign due now, in zones whose calling window is open.",
        labels=["campaign"],
    )
    for load in campaigns:
        live.add_metric([str(load.campaign_id)], load.live)
        cap.add_metric([str(load.campaign_id)], load.cap)
        due.add_metric([str(load.campaign_id)], load.due)
    yield live
    yield cap
    yield due


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


class _Included(Collector):
    """Another registry's metrics, rendered as part of this one."""

    def __init__(self, inner: CollectorRegistry) -> None:
        self.inner = inner

    def collect(self) -> Iterator[Metric]:
        return iter(self.inner.collect())


cache = SnapshotCache()
registry = CollectorRegistry(auto_describe=True)  # what `dialer serve` renders at /metrics
registry.register(_StoreCollector(cache))
registry.register(_Included(process_registry))


async def refresh(read: SnapshotReader, owner: object, max_age: float = 0.0) -> None:
    """Bring the store's figures up to date, unless read less than ``max_age`` s ago."""
    await cache.get(read, owner, max_age)


def exposition() -> bytes:
    return generate_latest(registry)


# ------------------------------------------------------------ exporters of other processes


@contextmanager
def process_exporter(host: str, port: int | None) -> Iterator[int | None]:
    """Serve this process's own figures on host:port (None: not at all) until the block
    ends; yields the bound port (0 picks a free one)."""
    if port is None:
        yield None
        return
    server, thread = start_http_server(port, host, registry=process_registry)
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def worker_exporter(host: str, port: int | None) -> Iterator[int | None]:
    """A Celery worker's figures, summed over its pool processes, on host:port.

    The worker's prefork pool sends the calls from child processes, which come and go (one
    is replaced after DIALER_WORKER_MAX_TASKS_PER_CHILD tasks). prometheus_client's
    multiprocess mode fits that: each child writes its values to files in a directory of
    this worker's own, and the parent, which serves the port, sums them (a child that has
    exited keeps counting). The mode is chosen here, in the parent, before the pool forks
    and before any labelled value exists: every per-process metric above has labels, so
    each child creates its values after the fork, in multiprocess mode."""
    if port is None:
        yield None
        return
    directory = tempfile.mkdtemp(prefix="dialer-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    summed = CollectorRegistry()
    MultiProcessCollector(summed, path=directory)  # type: ignore[no-untyped-call]
    server, thread = start_http_server(port, host, registry=summed)
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        shutil.rmtree(directory, ignore_errors=True)

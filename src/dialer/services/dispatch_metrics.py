"""What a dispatcher measures in its own process (``dialer.metrics``): admission refusals by
the limit that refused, how late each lead was dispatched, and the unsent originations it
read before claiming (backpressure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dialer import metrics
from dialer.domain.lateness import callable_since, dispatch_lag
from dialer.domain.model import Campaign, Lead
from dialer.domain.phone import zones_of_key


class DispatchMetrics:
    def __init__(self) -> None:
        # When this dispatcher first saw each campaign running (again, after a pause): leads
        # due before that were not callable yet. A dispatcher that starts late counts from
        # its own start, so it understates the lag of a backlog left by its predecessor.
        self._running_since: dict[int, datetime] = {}

    def saw_running(self, campaigns: Sequence[Campaign], now: datetime) -> None:
        running = {c.id for c in campaigns}
        for stopped in self._running_since.keys() - running:
            del self._running_since[stopped]
        for campaign_id in running:
            self._running_since.setdefault(campaign_id, now)

    def unsent(self, count: int) -> None:
        metrics.unsent_originations.set(count)

    def refused(self, campaign_id: int, reason: str) -> None:
        metrics.admission_refusals.labels(str(campaign_id), reason).inc()

    def dispatched(self, campaign: Campaign, leads: Sequence[Lead], now: datetime) -> None:
        settings = campaign.settings
        running_since = self._running_since.get(campaign.id, now)
        observe = metrics.dispatch_lag.labels(str(campaign.id)).observe
        for lead in leads:
            since = callable_since(
                lead.next_attempt_at,
                running_since,
                settings.start_at,
                lead.window(settings.window),
                zones_of_key(lead.zone_key),
            )
            observe(dispatch_lag(since, now))

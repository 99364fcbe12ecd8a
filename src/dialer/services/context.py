"""What the use cases need, gathered in one object built by ``dialer.bootstrap``."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from dialer.domain.model import Campaign
from dialer.domain.safety import NumberPolicy
from dialer.ports import Admission, Clock, Scope, Store, Telephony


@dataclass(frozen=True)
class Limits:
    global_max: int
    lease_ttl: int
    tenant_max: int | None = None
    number_policy: NumberPolicy = field(default_factory=NumberPolicy)


@dataclass
class Services:
    store: Store
    admission: Admission
    telephony: Telephony
    clock: Clock
    limits: Limits
    webhook_base: str
    rng: random.Random = field(default_factory=random.Random)

    def scope(self, campaign: Campaign) -> Scope:
        return Scope(
            tenant_id=campaign.tenant_id,
            campaign_id=campaign.id,
            global_max=self.limits.global_max,
            campaign_max=campaign.settings.max_concurrency,
            tenant_max=self.limits.tenant_max,
            campaign_rate=campaign.settings.pacing,
        )

    def now_ts(self) -> float:
        return self.clock.now().timestamp()

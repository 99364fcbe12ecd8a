"""What the use cases need, gathered in one object built by ``dialer.bootstrap``."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from dialer.domain.model import Campaign, Rates, ScopeLimits
from dialer.domain.safety import NumberPolicy
from dialer.ports import Admission, Clock, Scope, Store, Telephony
from dialer.ports.budget import BudgetLedger
from dialer.ports.messaging import EmailSender, SmsSender
from dialer.ports.webhook_sender import WebhookSender
from dialer.ports.webhook_store import Endpoint
from dialer.services.answer_times import AnswerLevels
from dialer.services.attempt_writes import AttemptWrites
from dialer.services.costs import Pricing
from dialer.services.webhook_events import Outbox


@dataclass(frozen=True)
class Limits:
    global_max: int
    lease_ttl: int
    tenant_max: int | None = None
    number_policy: NumberPolicy = field(default_factory=NumberPolicy)
    global_rates: Rates = ()
    campaign_max: int | None = None  # the largest campaign cap; None: the global cap
    allow_private_answer_urls: bool = False
    channel_rates: dict[str, Rates] = field(default_factory=dict)  # "sms"/"email" -> rates


@dataclass
class Services:
    store: Store
    admission: Admission
    telephony: Telephony
    clock: Clock
    limits: Limits
    webhook_base: str
    rng: random.Random = field(default_factory=random.Random)
    allow_vanity_numbers: bool = False  # contacts' numbers may be written with keypad letters
    sms: SmsSender | None = None  # None: SMS steps fail with the reason (no provider set up)
    email: EmailSender | None = None  # None: email steps fail likewise (no DIALER_SMTP_URL)
    outbox: Outbox = field(default_factory=Outbox)  # events for the tenants' webhooks
    hooks: WebhookSender | None = None  # asks campaigns' pre-dial hooks (None: they fail)
    # campaign id -> (when read, the campaign, its tenant's endpoints): what every pre-dial
    # hook of the campaign needs, read once every few seconds (services.pre_dial)
    hook_context: dict[int, tuple[float, Campaign, list[Endpoint]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    budgets: BudgetLedger | None = None  # None: campaigns with a budget make no call
    # tenants' and campaigns' answer-time counts, read once a minute (services.answer_times)
    answer_levels: AnswerLevels = field(default_factory=AnswerLevels, repr=False, compare=False)
    pricing: Pricing = field(default_factory=Pricing, repr=False, compare=False)  # rate cards
    writes: AttemptWrites = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.writes = AttemptWrites(self.store, self.clock, self.outbox)

    def scope(self, campaign: Campaign, tenant: ScopeLimits | None = None) -> Scope:
        tenant = tenant or ScopeLimits(self.limits.tenant_max)
        return Scope(
            tenant_id=campaign.tenant_id,
            campaign_id=campaign.id,
            global_max=self.limits.global_max,
            campaign_max=campaign.settings.max_concurrency,
            tenant_max=tenant.max_concurrency,
            campaign_rate=campaign.pacing_at(self.clock.now()),
            tenant_rate=tenant.rates,
            global_rate=self.limits.global_rates,
        )

    def now_ts(self) -> float:
        return self.clock.now().timestamp()

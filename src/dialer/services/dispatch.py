"""The pacing loop, one ``run_once()`` at a time.

Per running campaign, highest priority first: ask admission how many calls it may start, claim
that many due leads in the time zones whose calling window is open now, admit each one
(all-or-nothing), record the attempts in the claim's transaction, and hand the batch to the
executor. Claiming filters on the *set* of zone keys open now, so the query stays index-friendly
however many leads there are.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialer.domain.model import CallAttempt, Campaign, Lead
from dialer.domain.phone import zones_of_key
from dialer.domain.statuses import CampaignStatus
from dialer.ports import (
    AdmissionResult,
    CallRequest,
    Deferral,
    Executor,
    Limit,
    NewAttempt,
    Origination,
    UnitOfWork,
)
from dialer.services.context import Services

log = logging.getLogger(__name__)

NUMBER_BUSY_DELAY = timedelta(seconds=60)  # the number is in another call: try after it
ZONE_REFRESH_SECONDS = 2.0  # how often (real time) a campaign's set of lead zones is re-read


@dataclass
class TickReport:
    originated: int = 0
    refused: dict[Limit, int] = field(default_factory=dict)
    completed_campaigns: list[int] = field(default_factory=list)


@dataclass
class _Zones:
    """A campaign's due-lead zone keys, re-read every few seconds rather than every tick."""

    keys: set[str]
    read_at: float


class Dispatcher:
    def __init__(self, services: Services, executor: Executor, batch_size: int = 200) -> None:
        self.services = services
        self.executor = executor
        self.batch_size = batch_size
        self._zones: dict[int, _Zones] = {}

    async def run_once(self) -> TickReport:
        report = TickReport()
        async with self.services.store.unit() as uow:
            running = await uow.campaigns_in([CampaignStatus.RUNNING])
        for campaign in running:
            await self._dispatch(campaign, report)
        return report

    async def _dispatch(self, campaign: Campaign, report: TickReport) -> None:
        now = self.services.clock.now()
        scope = self.services.scope(campaign)
        room = await self.services.admission.headroom(scope)
        if room == 0:
            return
        keys = await self._open_zone_keys(campaign, now)
        limit = min(room, self.batch_size)
        async with self.services.store.unit() as uow:
            leads = await uow.claim_due_leads(campaign.id, sorted(keys), now, limit)
            if not leads:
                await self._complete_if_done(uow, campaign, now, report)
                return
            requests = [(uuid.uuid4().hex, lead.phone) for lead in leads]
            ttl = self.services.limits.lease_ttl
            results = await self.services.admission.acquire_batch(scope, requests, ttl)
            try:
                attempts = await self._record(uow, campaign, leads, results, now, report)
                await uow.commit()
            except BaseException:
                await self._release_all(results)
                raise
        await self.executor.submit([self._origination(campaign, a) for a in attempts])
        report.originated += len(attempts)

    async def _record(
        self,
        uow: UnitOfWork,
        campaign: Campaign,
        leads: list[Lead],
        results: list[AdmissionResult],
        now: datetime,
        report: TickReport,
    ) -> list[CallAttempt]:
        admitted: list[NewAttempt] = []
        deferred: list[Deferral] = []
        caller_id = campaign.settings.caller_id
        for lead, result in zip(leads, results, strict=True):
            if result.lease is not None:
                expires = datetime.fromtimestamp(result.lease.expires_at, now.tzinfo)
                admitted.append(NewAttempt(lead, result.lease.id, expires, caller_id))
                continue
            refusal = result.refused_by or Limit.GLOBAL_CAP
            report.refused[refusal] = report.refused.get(refusal, 0) + 1
            if refusal is Limit.NUMBER_BUSY:
                deferred.append(Deferral(lead.id, lead.status, now + NUMBER_BUSY_DELAY))
        attempts = await uow.start_attempts(admitted, now)
        await uow.defer_leads(deferred, now)
        return attempts

    def _origination(self, campaign: Campaign, attempt: CallAttempt) -> Origination:
        settings = campaign.settings
        callback = (
            f"{self.services.webhook_base}/webhooks/{self.services.telephony.name}/status"
            f"?attempt={attempt.id}&campaign={campaign.id}"
        )
        request = CallRequest(
            attempt_id=attempt.id,
            to=attempt.phone,
            from_=attempt.caller_id,
            status_callback_url=callback,
            ring_timeout=settings.ring_timeout,
            time_limit=settings.max_call_duration,
            answer_url=settings.answer_url,
        )
        return Origination(
            attempt.id, attempt.lead_id, campaign.id, campaign.tenant_id, attempt.lease_id, request
        )

    async def _release_all(self, results: list[AdmissionResult]) -> None:
        for result in results:
            if result.lease is not None:
                await self.services.admission.release(result.lease)

    async def _open_zone_keys(self, campaign: Campaign, now: datetime) -> set[str]:
        zones = self._zones.get(campaign.id)
        if zones is None or time.monotonic() - zones.read_at > ZONE_REFRESH_SECONDS:
            zones = self._zones[campaign.id] = await self._read_zones(campaign, now)
        window = campaign.settings.window
        return {key for key in zones.keys if window.is_open(now, zones_of_key(key))}

    async def _read_zones(self, campaign: Campaign, now: datetime) -> _Zones:
        window = campaign.settings.window
        async with self.services.store.unit() as uow:
            keys = await uow.due_zone_keys(campaign.id)
            never = sorted(k for k in keys if window.next_open(now, zones_of_key(k)) is None)
            if never:
                skipped = await uow.skip_due_leads(campaign.id, never, "no calling window", now)
                await uow.commit()
                log.warning(
                    "campaign %s: %d leads skipped, the window never opens in %s",
                    campaign.id,
                    skipped,
                    ", ".join(never),
                )
        return _Zones(keys - set(never), time.monotonic())

    async def _complete_if_done(
        self, uow: UnitOfWork, campaign: Campaign, now: datetime, report: TickReport
    ) -> None:
        if await uow.has_open_leads(campaign.id):
            return
        fresh = await uow.get_campaign(campaign.id)
        if fresh.status is CampaignStatus.RUNNING:
            fresh.move_to(CampaignStatus.COMPLETED)
            await uow.save_campaign_status(fresh, now)
            await uow.commit()
            report.completed_campaigns.append(campaign.id)
            self._zones.pop(campaign.id, None)
            log.info("campaign %s completed", campaign.id)

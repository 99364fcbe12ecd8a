"""The figures of a deployment (or of one tenant), read from the store and admission."""

from __future__ import annotations

from dialer.domain.figures import CampaignLoad, Snapshot, TenantLoad, open_backlog
from dialer.domain.statuses import TERMINAL_ATTEMPT, CampaignStatus
from dialer.services.context import Services
from dialer.services.tenants import limits_from


async def snapshot(services: Services, tenant_id: int | None = None) -> Snapshot:
    usage = await services.admission.usage()
    now = services.clock.now()
    everyone = tenant_id is None
    async with services.store.unit() as uow:
        started, by_status = await uow.views.attempt_totals(tenant_id)
        running = await uow.campaigns.in_status([CampaignStatus.RUNNING])
        mine = [c for c in running if everyone or c.tenant_id == tenant_id]
        due = await uow.views.due_lead_counts([c.id for c in mine], now)
        providers = tuple(await uow.providers.health()) if everyone else ()
        letters = await uow.views.open_dead_letter_count() if everyone else 0
        messages = await uow.messages.totals(tenant_id)
        tenant_ids = {c.tenant_id for c in running} | set(usage.by_tenant) if everyone else set()
        caps = {t: limits_from(await uow.tenants.settings(t)).max_concurrency for t in tenant_ids}
    backlog = open_backlog(mine, due, now)
    tenant_cap = services.limits.tenant_max  # a tenant without its own cap
    return Snapshot(
        calls_started=started,
        calls_ended={s: n for s, n in by_status.items() if s in TERMINAL_ATTEMPT},
        calls_by_status=by_status,
        live_calls=usage.global_active if everyone else usage.by_tenant.get(tenant_id or 0, 0),
        global_cap=services.limits.global_max,
        campaigns=tuple(
            CampaignLoad(
                c.id,
                c.name,
                usage.by_campaign.get(c.id, 0),
                c.settings.max_concurrency,
                backlog[c.id],
            )
            for c in mine
        ),
        providers=providers,
        tenants=tuple(
            TenantLoad(t, usage.by_tenant.get(t, 0), tenant_cap if cap is None else cap)
            for t, cap in sorted(caps.items())
        ),
        dead_letters=letters,
        messages=messages,
    )

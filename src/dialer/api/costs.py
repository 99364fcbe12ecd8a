"""/v1/rate-cards: what the providers charge (the deployment's, so a platform key manages
them); /v1/costs: the tenant's spend summed per campaign, day and channel."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dialer.api.auth import Admin, RuntimeDep, Viewer, scoped
from dialer.api.common import QueryId
from dialer.api.problems import PROBLEM_RESPONSES
from dialer.campaign_hooks import budget_document
from dialer.domain.budgets import Budget
from dialer.domain.costs import CostChannel, RateCard
from dialer.errors import InvalidInput, Problem
from dialer.ports.cost_store import CostGrouping, CostQuery, CostRow
from dialer.rate_card_document import card_from_mapping, card_to_mapping
from dialer.services import costs, tenants
from dialer.services.access import KeyScope, Principal

router = APIRouter(tags=["costs"], responses=PROBLEM_RESPONSES)
Platform = Annotated[Principal, scoped(KeyScope.PLATFORM)]

CardDocument = Annotated[
    dict[str, Any],
    Body(
        description="The rate card (docs/economics.md): provider, channel, currency, "
        "effective_at (optional, not in the past), increment, connection_fee, prices",
        examples=[
            {
                "provider": "twilio",
                "channel": "call",
                "currency": "USD",
                "increment": "60/60",
                "prices": [{"prefix": "1", "per_minute": "0.014"}],
            }
        ],
    ),
]


class RateCardOut(BaseModel):
    id: int
    version: int = Field(description="1 for the first card of its provider and channel")
    card: dict[str, Any] = Field(description="The card as stored (amounts as decimal strings)")

    @classmethod
    def of(cls, card: RateCard) -> RateCardOut:
        return cls(id=card.id, version=card.version, card=card_to_mapping(card))


class RateCardList(BaseModel):
    items: list[RateCardOut]


class CostOut(BaseModel):
    currency: str
    amount: Decimal = Field(description="What the calls and messages cost by the rate cards")
    count: int = Field(description="The calls and messages charged")
    provider_amount: Decimal | None = Field(
        description="The providers' own prices summed, where they reported one"
    )
    campaign_id: int | None = None
    day: date | None = Field(None, description="The UTC day the calls and messages ended on")
    channel: CostChannel | None = None

    @classmethod
    def of(cls, row: CostRow) -> CostOut:
        return cls(
            currency=row.currency,
            amount=row.amount,
            count=row.count,
            provider_amount=row.provider_amount,
            campaign_id=row.campaign_id,
            day=row.day,
            channel=row.channel,
        )


class CostList(BaseModel):
    items: list[CostOut]


@router.post("/v1/rate-cards", status_code=201, response_model=RateCardOut)
async def add_rate_card(
    caller: Platform, runtime: RuntimeDep, document: CardDocument
) -> JSONResponse:
    """Store a new version of a provider's card for a channel; it prices what is created
    from its ``effective_at`` on (now, when it gives none), never what came before."""
    card = card_from_mapping(document)
    stored = await costs.add_card(
        runtime.store, runtime.services.pricing, card, runtime.services.clock.now()
    )
    payload = RateCardOut.of(stored).model_dump(mode="json")
    return JSONResponse(payload, 201, headers={"Location": f"/v1/rate-cards/{stored.id}"})


@router.get("/v1/rate-cards", response_model=RateCardList)
async def list_rate_cards(
    caller: Platform,
    runtime: RuntimeDep,
    provider: Annotated[str | None, Query(max_length=40)] = None,
    channel: CostChannel | None = None,
) -> RateCardList:
    """Every version of the matching cards, oldest first."""
    found = await costs.cards(runtime.store, provider, channel)
    return RateCardList(items=[RateCardOut.of(card) for card in found])


@router.get("/v1/costs", response_model=CostList)
async def cost_rollup(
    caller: Viewer,
    runtime: RuntimeDep,
    group_by: Annotated[
        list[CostGrouping] | None, Query(description="campaign, day, channel (any of them)")
    ] = None,
    campaign_id: QueryId | None = None,
    since: Annotated[date | None, Query(description="The first UTC day included")] = None,
    until: Annotated[date | None, Query(description="The last UTC day included")] = None,
) -> CostList:
    """The tenant's spend, summed per group and currency."""
    if since and until and since > until:
        raise InvalidInput(Problem("since", "must not be after until"))
    groups = tuple(dict.fromkeys(group_by or [CostGrouping.CAMPAIGN]))
    query = CostQuery(caller.tenant_id, groups, campaign_id, since, until)
    return CostList(items=[CostOut.of(row) for row in await costs.rollup(runtime.store, query)])


class BudgetOut(BaseModel):
    budget: dict[str, Any] | None = Field(
        description="total, per_day, currency, timezone; null: the tenant has no budget"
    )


BudgetDocument = Annotated[
    dict[str, Any] | None,
    Body(
        description="The tenant's budget over all its campaigns, or null to remove it",
        examples=[{"total": "5000", "per_day": "500", "currency": "USD", "timezone": "UTC"}],
    ),
]


def _budget_out(budget: Budget | None) -> BudgetOut:
    return BudgetOut(budget=budget_document(budget) if budget else None)


@router.get("/v1/budget", response_model=BudgetOut)
async def get_budget(caller: Viewer, runtime: RuntimeDep) -> BudgetOut:
    """The tenant's budget over all its campaigns (each campaign may have its own too)."""
    return _budget_out(await tenants.tenant_budget(runtime.store, caller.tenant_id))


@router.put("/v1/budget", response_model=BudgetOut)
async def put_budget(
    caller: Admin, runtime: RuntimeDep, document: BudgetDocument = None
) -> BudgetOut:
    """Replace the tenant's budget (null removes it). A call is made only when its worst
    case fits every budget it falls under; once the total is spent, campaigns pause."""
    saved = await tenants.save_tenant_budget(runtime.store, caller.tenant_id, document)
    return _budget_out(saved)

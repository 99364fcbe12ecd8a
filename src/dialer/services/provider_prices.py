"""The provider's own price of each call, kept beside Dialer's cost of it.

Twilio writes a call's price on its Call resource some time after the call ended (``price`` is
null until then). This pass asks the provider about the calls charged between ``give_up`` and
``wait`` ago that have no provider price yet — the oldest first, a bounded batch, a few
requests at a time — and keeps each price beside the charge (``provider_amount`` in the
rollups). What it leaves:

* a call the provider has not priced yet, or could not be asked about: asked again at a later
  pass, until ``give_up`` after it ended; then it keeps no provider price, and the pass that
  asked it last says so;
* a price in another currency than the charge's: not comparable, logged and left out;
* the rest of the batch, when the provider throttles, is unavailable or refuses our
  credentials: for the next pass.

A provider whose adapter reports no prices (``reports_prices`` False: Plivo, Telnyx) is never
asked, and its calls are not even looked for.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dialer.domain.costs import CostChannel
from dialer.errors import DialerError, ProviderThrottled, ProviderUnavailable
from dialer.ports import CallPrice, Telephony
from dialer.ports.cost_store import UnpricedCall
from dialer.services.context import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PricePolicy:
    wait: float = 300.0  # seconds after a call ended before its price is first asked for
    give_up: float = 6 * 3600.0  # seconds after it ended when it is no longer asked
    concurrency: int = 8  # requests to the provider at once
    every: float = 30.0  # seconds between passes: which ask of a call is its last


class Answer(StrEnum):
    PRICED = "priced"
    NOT_YET = "not_yet"  # the provider has not priced the call yet
    OTHER_CURRENCY = "other_currency"
    FAILED = "failed"  # the provider could not be asked
    SKIPPED = "skipped"  # not asked: the provider stopped answering during the pass


@dataclass(frozen=True)
class PriceReport:
    priced: int = 0
    not_yet: int = 0
    other_currency: int = 0
    failed: int = 0
    skipped: int = 0
    given_up: int = 0  # of those left, the ones no later pass will ask again


async def fetch_provider_prices(
    services: Services, limit: int, policy: PricePolicy | None = None
) -> PriceReport:
    """Ask the provider for the price of up to ``limit`` calls, and keep what it reported."""
    policy = policy or PricePolicy()
    if not services.telephony.reports_prices:
        return PriceReport()
    now = services.clock.now()
    calls = await _unpriced(services, now, limit, policy)
    if not calls:
        return PriceReport()
    prices = await _ask_all(services.telephony, calls, policy.concurrency)
    answers = [_answer(call, price) for call, price in zip(calls, prices, strict=True)]
    await _keep(services, calls, prices, answers)
    report = _report(calls, answers, now - timedelta(seconds=policy.give_up - policy.every))
    _log(report, calls, prices, policy)
    return report


async def _unpriced(
    services: Services, now: datetime, limit: int, policy: PricePolicy
) -> list[UnpricedCall]:
    async with services.store.unit() as uow:
        return await uow.costs.unpriced_calls(
            services.telephony.name,
            now - timedelta(seconds=policy.give_up),
            now - timedelta(seconds=policy.wait),
            limit,
        )


async def _ask_all(
    telephony: Telephony, calls: Sequence[UnpricedCall], concurrency: int
) -> list[CallPrice | Answer | None]:
    """Each call's price (None: not priced yet), or why there is none: ``concurrency``
    requests at a time, and none more once the provider stops answering."""
    room = asyncio.Semaphore(concurrency)
    stopped = asyncio.Event()

    async def ask(call: UnpricedCall) -> CallPrice | Answer | None:
        async with room:
            if stopped.is_set():
                return Answer.SKIPPED
            try:
                return await telephony.call_price(call.provider_call_id)
            except (ProviderThrottled, ProviderUnavailable) as exc:
                stopped.set()  # throttled, down, or our credentials refused: later
                log.info("the provider did not answer a price request (%s)", exc)
                return Answer.FAILED
            except DialerError as exc:
                log.info("call %s: its price was not given (%s)", call.provider_call_id, exc)
                return Answer.FAILED

    return list(await asyncio.gather(*(ask(call) for call in calls)))


def _answer(call: UnpricedCall, price: CallPrice | Answer | None) -> Answer:
    if isinstance(price, Answer):
        return price
    if price is None:
        return Answer.NOT_YET
    return Answer.PRICED if price.currency == call.currency else Answer.OTHER_CURRENCY


async def _keep(
    services: Services,
    calls: Sequence[UnpricedCall],
    prices: Sequence[CallPrice | Answer | None],
    answers: Sequence[Answer],
) -> None:
    amounts = {
        call.attempt_id: price.amount
        for call, price, answer in zip(calls, prices, answers, strict=True)
        if isinstance(price, CallPrice) and answer is Answer.PRICED
    }
    if not amounts:
        return
    async with services.store.unit() as uow:
        await uow.costs.set_provider_amounts(CostChannel.CALL, amounts)
        await uow.commit()


def _report(
    calls: Sequence[UnpricedCall], answers: Sequence[Answer], last_ask_before: datetime
) -> PriceReport:
    """The answers counted; ``given_up``: calls left without a price that ended before
    ``last_ask_before``, so that by the next pass they are past giving up."""
    counts = Counter(answers)
    left = {Answer.NOT_YET, Answer.FAILED, Answer.SKIPPED}
    given_up = sum(
        1
        for call, answer in zip(calls, answers, strict=True)
        if answer in left and call.ended_at < last_ask_before
    )
    return PriceReport(
        priced=counts[Answer.PRICED],
        not_yet=counts[Answer.NOT_YET],
        other_currency=counts[Answer.OTHER_CURRENCY],
        failed=counts[Answer.FAILED],
        skipped=counts[Answer.SKIPPED],
        given_up=given_up,
    )


def _log(
    report: PriceReport,
    calls: Sequence[UnpricedCall],
    prices: Sequence[CallPrice | Answer | None],
    policy: PricePolicy,
) -> None:
    if report.priced:
        log.info("the provider's price of %d calls was kept", report.priced)
    if report.other_currency:
        log.warning(
            "%d calls were priced by the provider in another currency than Dialer's cost "
            "(theirs/ours: %s): their provider price is left out",
            report.other_currency,
            ", ".join(_currency_pairs(calls, prices)),
        )
    if report.given_up:
        log.warning(
            "%d calls still have no price from the provider %.0f hours after they ended: "
            "no longer asked; they keep Dialer's cost only",
            report.given_up,
            policy.give_up / 3600,
        )


def _currency_pairs(
    calls: Sequence[UnpricedCall], prices: Sequence[CallPrice | Answer | None]
) -> list[str]:
    pairs = {
        f"{price.currency}/{call.currency}"
        for call, price in zip(calls, prices, strict=True)
        if isinstance(price, CallPrice) and price.currency != call.currency
    }
    return sorted(pairs)

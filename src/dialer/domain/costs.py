"""What a call or a message costs: rate cards and their arithmetic.

A rate card is what one provider charges on one channel, per destination prefix (the longest
prefix of the number wins). Calls are billed per minute in increments (``60/60``: a minute,
then whole minutes; ``30/6``: 30 s, then 6 s steps; ``1/1``: per second) plus a connection
fee on an answered call; SMS per segment; email per message. Money is ``Decimal`` throughout
(never a float), rounded only where it is stored (``MONEY_PLACES``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

MONEY_PLACES = Decimal("0.000001")  # the unit costs are kept in (a millionth of the currency)
_INCREMENT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_PREFIX = re.compile(r"^\d{0,15}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")


class CostChannel(StrEnum):
    CALL = "call"
    SMS = "sms"
    EMAIL = "email"


@dataclass(frozen=True)
class Increment:
    """Billing increments: the first ``first`` seconds are billed whole as soon as the call
    is answered, every later started ``then`` seconds whole."""

    first: int = 60
    then: int = 60

    @classmethod
    def parse(cls, text: str) -> Increment:
        found = _INCREMENT.match(text)
        if not found or int(found[1]) < 1 or int(found[2]) < 1:
            raise ValueError(f"expected increments like 60/60, 30/6 or 1/1, got {text!r}")
        return cls(int(found[1]), int(found[2]))

    def billable_seconds(self, duration: int) -> int:
        """The seconds charged for a call that lasted ``duration`` seconds once answered."""
        if duration <= 0:
            return 0
        if duration <= self.first:
            return self.first
        steps = -(-(duration - self.first) // self.then)  # started steps, rounded up
        return self.first + steps * self.then

    def __str__(self) -> str:
        return f"{self.first}/{self.then}"


@dataclass(frozen=True)
class Price:
    """The price of one destination prefix ('' matches every number)."""

    prefix: str = ""
    per_minute: Decimal = Decimal(0)  # calls
    increment: Increment = Increment()
    connection_fee: Decimal = Decimal(0)  # calls, charged once the call is answered
    per_segment: Decimal = Decimal(0)  # SMS
    per_message: Decimal = Decimal(0)  # email

    def call(self, duration: int) -> Decimal:
        """The charge of a call lasting ``duration`` answered seconds (0: not answered)."""
        billable = self.increment.billable_seconds(duration)
        if billable == 0:
            return Decimal(0)
        return money(self.connection_fee + self.per_minute * billable / 60)

    def sms(self, segments: int) -> Decimal:
        return money(self.per_segment * max(segments, 0))

    def email(self) -> Decimal:
        return money(self.per_message)


@dataclass(frozen=True)
class RateCard:
    """One provider's prices on one channel from ``effective_at`` on: a later version of the
    same card replaces it for calls and messages created after its own ``effective_at``."""

    provider: str
    channel: CostChannel
    currency: str
    prices: tuple[Price, ...]
    effective_at: datetime | None = None
    version: int = 0  # given by the store
    id: int = 0  # given by the store

    def price_for(self, destination: str) -> Price | None:
        """The price of the longest prefix of ``destination`` (an E.164 number; an email
        card's only price has the empty prefix). None: the card does not cover it."""
        digits = destination.lstrip("+")
        best: Price | None = None
        for price in self.prices:
            if digits.startswith(price.prefix) and (
                best is None or len(price.prefix) > len(best.prefix)
            ):
                best = price
        return best


@dataclass(frozen=True)
class Charge:
    """A cost worked out from a card: the amount, its currency and the card version used."""

    amount: Decimal
    currency: str
    card_id: int


def money(amount: Decimal) -> Decimal:
    return amount.quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


def to_micros(amount: Decimal) -> int:
    """The amount in millionths of its currency (how the store keeps it)."""
    return int(money(amount) * 1_000_000)


def from_micros(micros: int) -> Decimal:
    return money(Decimal(micros) / 1_000_000)


def check_currency(code: str) -> str:
    """``code`` if it is an ISO 4217 currency code; ValueError saying what is expected."""
    if not CURRENCY.match(code):
        raise ValueError(f"expected an ISO 4217 code such as USD or EUR, got {code!r}")
    return code


def valid_prefix(prefix: str) -> bool:
    return bool(_PREFIX.match(prefix))


def call_charge(card: RateCard, phone: str, duration: int | None) -> Charge | None:
    """What a call to ``phone`` that lasted ``duration`` answered seconds costs by ``card``
    (None when the card has no price for the number)."""
    price = card.price_for(phone)
    if price is None:
        return None
    return Charge(price.call(duration or 0), card.currency, card.id)


def worst_case_call(card: RateCard, phone: str, max_duration: int) -> Decimal | None:
    """The most a call to ``phone`` can cost when it is cut off at ``max_duration``."""
    price = card.price_for(phone)
    return price.call(max_duration) if price else None


def message_charge(card: RateCard, to: str, segments: int | None) -> Charge | None:
    price = card.price_for(to if card.channel is CostChannel.SMS else "")
    if price is None:
        return None
    amount = price.sms(segments or 1) if card.channel is CostChannel.SMS else price.email()
    return Charge(amount, card.currency, card.id)


def card_in_force(cards: list[RateCard], at: datetime) -> RateCard | None:
    """The card that applies to something created at ``at``: the latest version in force
    then (cards of one provider and channel, in any order)."""
    in_force = [c for c in cards if c.effective_at is None or c.effective_at <= at]
    return max(in_force, key=lambda c: c.version, default=None)

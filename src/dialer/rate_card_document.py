"""The rate card document: a YAML file or the API's JSON in, a domain ``RateCard`` out, with
errors that name the key (``prices[3].per_minute``); and back, for the API and the CLI.

    provider: twilio
    channel: call            # call | sms | email
    currency: USD
    increment: 60/60         # the default of every price below
    connection_fee: 0
    prices:
      - {prefix: "1", per_minute: 0.0140}
      - {prefix: "44", per_minute: 0.0255, increment: 1/1}
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dialer.campaign_steps import Strict
from dialer.domain.costs import (
    CostChannel,
    Increment,
    Price,
    RateCard,
    check_currency,
    valid_prefix,
)
from dialer.errors import InvalidInput, Problem
from dialer.yaml_documents import load_strict_yaml

MAX_PRICES = 100_000  # a carrier's full rate deck is some tens of thousands of prefixes
MAX_FILE_BYTES = 16 << 20
Currency = Annotated[str, AfterValidator(check_currency)]
Amount = Annotated[Decimal, Field(ge=0, le=1_000_000, decimal_places=6, allow_inf_nan=False)]

_NEEDED = {
    CostChannel.CALL: "per_minute",
    CostChannel.SMS: "per_segment",
    CostChannel.EMAIL: "per_message",
}


class PriceSpec(Strict):
    prefix: str = ""
    per_minute: Amount | None = None
    increment: str | None = None
    connection_fee: Amount | None = None
    per_segment: Amount | None = None
    per_message: Amount | None = None

    @field_validator("prefix", mode="before")
    @classmethod
    def _digits(cls, value: object) -> object:
        text = str(value).lstrip("+") if isinstance(value, int | str) else value
        if isinstance(text, str) and not valid_prefix(text):
            raise ValueError(
                f"a prefix is up to 15 digits (the number's country code first), got {value!r}"
            )
        return text

    @field_validator("increment")
    @classmethod
    def _increment(cls, value: str | None) -> str | None:
        return None if value is None else str(Increment.parse(value))


class RateCardSpec(Strict):
    provider: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_-]*$")
    channel: CostChannel
    currency: Currency
    effective_at: AwareDatetime | None = None
    increment: str = "60/60"
    connection_fee: Amount = Decimal(0)
    prices: list[PriceSpec] = Field(min_length=1, max_length=MAX_PRICES)

    @field_validator("increment")
    @classmethod
    def _increment(cls, value: str) -> str:
        return str(Increment.parse(value))

    @model_validator(mode="after")
    def _one_price_per_prefix(self) -> RateCardSpec:
        seen: set[str] = set()
        for index, price in enumerate(self.prices):
            if price.prefix in seen:
                raise ValueError(f"prices[{index}]: the prefix {price.prefix!r} is priced twice")
            seen.add(price.prefix)
        return self


def _price_problems(spec: RateCardSpec) -> list[Problem]:
    """Each price names the amount its channel charges by, and no other channel's."""
    needed = _NEEDED[spec.channel]
    problems = []
    for index, price in enumerate(spec.prices):
        where = f"prices[{index}]"
        if getattr(price, needed) is None:
            problems.append(Problem(f"{where}.{needed}", f"required on a {spec.channel} card"))
        for other in set(_NEEDED.values()) - {needed}:
            if getattr(price, other) is not None:
                problems.append(
                    Problem(f"{where}.{other}", f"not charged on a {spec.channel} card")
                )
        if spec.channel is CostChannel.EMAIL and price.prefix:
            problems.append(Problem(f"{where}.prefix", "an email card has one price, no prefix"))
    return problems


def _price(spec: PriceSpec, card: RateCardSpec) -> Price:
    return Price(
        prefix=spec.prefix,
        per_minute=spec.per_minute or Decimal(0),
        increment=Increment.parse(spec.increment or card.increment),
        connection_fee=card.connection_fee if spec.connection_fee is None else spec.connection_fee,
        per_segment=spec.per_segment or Decimal(0),
        per_message=spec.per_message or Decimal(0),
    )


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(rate card)"


def card_from_mapping(data: Any, *, effective_at: datetime | None = None) -> RateCard:
    """Validate a parsed rate card; raise InvalidInput naming each bad key. ``effective_at``
    is the card's own when it gives none (the moment it is stored)."""
    if not isinstance(data, dict):
        raise InvalidInput(Problem("(rate card)", "a rate card must be a mapping of keys"))
    try:
        spec = RateCardSpec.model_validate(data)
    except ValidationError as exc:
        problems: dict[str, Problem] = {}
        for err in exc.errors():
            where = _location(err["loc"])
            problems.setdefault(where, Problem(where, err["msg"].removeprefix("Value error, ")))
        raise InvalidInput(list(problems.values())) from exc
    if price_problems := _price_problems(spec):
        raise InvalidInput(price_problems)
    return RateCard(
        provider=spec.provider,
        channel=spec.channel,
        currency=spec.currency,
        prices=tuple(_price(price, spec) for price in spec.prices),
        effective_at=spec.effective_at or effective_at,
    )


def card_from_yaml(text: str) -> RateCard:
    if len(text) > MAX_FILE_BYTES:
        raise InvalidInput(Problem("(rate card)", f"larger than {MAX_FILE_BYTES >> 20} MiB"))
    return card_from_mapping(load_strict_yaml(text))


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f")


def price_document(price: Price, channel: CostChannel) -> dict[str, str]:
    document = {"prefix": price.prefix} if channel is not CostChannel.EMAIL else {}
    if channel is CostChannel.CALL:
        document["per_minute"] = _amount(price.per_minute)
        document["increment"] = str(price.increment)
        document["connection_fee"] = _amount(price.connection_fee)
    elif channel is CostChannel.SMS:
        document["per_segment"] = _amount(price.per_segment)
    else:
        document["per_message"] = _amount(price.per_message)
    return document


def card_to_mapping(card: RateCard) -> dict[str, Any]:
    """The card as a document ``card_from_mapping`` reads back to the same card (amounts as
    strings: JSON numbers would lose a Decimal's digits)."""
    return {
        "provider": card.provider,
        "channel": card.channel.value,
        "currency": card.currency,
        "effective_at": card.effective_at.isoformat() if card.effective_at else None,
        "prices": [price_document(price, card.channel) for price in card.prices],
    }


def prices_from_documents(documents: list[dict[str, str]]) -> tuple[Price, ...]:
    """The prices ``price_document`` wrote (the store's own form, validated when written)."""
    return tuple(
        Price(
            prefix=document.get("prefix", ""),
            per_minute=Decimal(document.get("per_minute", "0")),
            increment=Increment.parse(document.get("increment", "60/60")),
            connection_fee=Decimal(document.get("connection_fee", "0")),
            per_segment=Decimal(document.get("per_segment", "0")),
            per_message=Decimal(document.get("per_message", "0")),
        )
        for document in documents
    )

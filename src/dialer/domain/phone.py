"""Phone numbers: normalising to E.164 and finding the time zones a number belongs to."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import timezone as phone_timezone

UNKNOWN_ZONE = "Etc/Unknown"


class InvalidNumber(ValueError):
    """A number that cannot be dialled, with the reason in words."""


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    zones: tuple[str, ...]  # sorted; several when the number's region spans time zones


def normalize(raw: str, default_region: str = "US", *, allow_vanity: bool = False) -> str:
    """'(415) 555-0100' -> '+14155550100'; raise InvalidNumber saying why it cannot be used.

    Letters are refused unless ``allow_vanity`` (then '212-555-CALL' is read on the keypad):
    the parser maps any letter to a digit, so a placeholder such as '555-xxxx' would become
    somebody's real number. A number with an extension is refused whatever the option: the
    extension cannot be dialled, and dropping it would ring the switchboard instead."""
    text = raw.strip()
    if not text:
        raise InvalidNumber("the phone number is empty")
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{_quoted(raw)} is not a phone number ({exc._msg})") from exc
    if parsed.extension:
        raise InvalidNumber(
            f"{_quoted(raw)} has extension {parsed.extension}: a phone number with an "
            "extension cannot be dialled; give the number without it"
        )
    if not allow_vanity and any(ch.isalpha() for ch in text):
        raise InvalidNumber(
            f"{_quoted(raw)} contains letters: give the phone number in digits "
            "(vanity numbers such as 1-800-FLOWERS need DIALER_ALLOW_VANITY_NUMBERS=true)"
        )
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(f"{_quoted(raw)} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _quoted(raw: str, limit: int = 40) -> str:
    """The input as written, cut short: a reason must not echo a whole over-long field."""
    return repr(raw) if len(raw) <= limit else f"{raw[:limit]!r}… ({len(raw):,} characters)"


def zones_for(e164: str, fallback: str) -> tuple[str, ...]:
    """The IANA zones of a number (from its region and prefix); ``fallback`` when unknown."""
    parsed = phonenumbers.parse(e164, None)
    found = [z for z in phone_timezone.time_zones_for_number(parsed) if z != UNKNOWN_ZONE]
    return tuple(sorted(found)) if found else (fallback,)


def mask(e164: str) -> str:
    """For logs: '+14155550123' -> '+1415*****23'. Never log a full number: at most the first
    five and the last two characters show, and at least four are always hidden."""
    if len(e164) <= 6:
        return "*" * len(e164)
    head = min(5, len(e164) - 6)
    return e164[:head] + "*" * (len(e164) - head - 2) + e164[-2:]


def zone_key(zones: tuple[str, ...]) -> str:
    """One string per zone set, stored on each lead so claims can filter by the keys open now."""
    return "|".join(zones)


def zones_of_key(key: str) -> tuple[str, ...]:
    return tuple(key.split("|"))

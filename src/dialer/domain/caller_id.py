"""Caller-ID pools: which of a campaign's numbers an attempt calls from.

Rotation spreads the calls over the pool (carriers flag a number that places too many calls),
and is stateless: the pick depends on the lead and its attempt count, so any number of
dispatchers agree without sharing anything, and a retry of one lead moves to the next number.
With ``local_presence`` the pool is narrowed first to the numbers sharing the contact's area
code (North America: +1 and the three digits after it), else its country calling code; when
the pool has neither, the whole pool is used.
"""

from __future__ import annotations

import phonenumbers

NANP = "1"  # the North American Numbering Plan: area codes are the 3 digits after +1


def choose_caller_id(
    pool: tuple[str, ...], fallback: str, contact: str, turn: int, *, local_presence: bool
) -> str:
    """The number to call ``contact`` from on this ``turn`` (any whole number, e.g. lead id
    plus attempts made): ``fallback`` when the pool is empty."""
    if not pool:
        return fallback
    candidates = _local(pool, contact) if local_presence else pool
    return candidates[turn % len(candidates)]


def _local(pool: tuple[str, ...], contact: str) -> tuple[str, ...]:
    area = area_prefix(contact)
    same_area = tuple(n for n in pool if area is not None and area_prefix(n) == area)
    if same_area:
        return same_area
    country = country_code(contact)
    same_country = tuple(n for n in pool if country is not None and country_code(n) == country)
    return same_country or pool


def country_code(e164: str) -> str | None:
    try:
        return str(phonenumbers.parse(e164, None).country_code)
    except phonenumbers.NumberParseException:
        return None


def area_prefix(e164: str) -> str | None:
    """'+14155550100' -> '+1415'; None outside North America (area codes vary in length)."""
    if country_code(e164) != NANP or len(e164) < 5:
        return None
    return e164[:5]

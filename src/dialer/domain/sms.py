"""SMS text: how many segments a body is billed and sent as, and the keywords a reply may be.

A body that fits the GSM 03.38 default alphabet is sent in 7-bit septets: 160 in one message,
153 per part once it is split (each part carries a header that says how to join them). Any
other character makes the whole body UCS-2, counted in UTF-16 code units: 70 in one message,
67 per part. Parts are filled character by character: a character is never cut across two
parts (an extension character's escape and its septet, or a surrogate pair), so a part may end
one unit short and the count is not simply the units divided by the part size.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through an escape septet: each of these takes two septets.
_GSM_EXTENSION = "\f^{}\\[~]|€"
_GSM_SEPTETS = dict.fromkeys(_GSM_BASIC, 1) | dict.fromkeys(_GSM_EXTENSION, 2)


class SmsEncoding(StrEnum):
    GSM_7 = "GSM-7"
    UCS_2 = "UCS-2"


@dataclass(frozen=True)
class SmsSegments:
    """How a body is sent: its encoding, its length in that encoding's units (septets or
    UTF-16 code units), and the number of messages it takes."""

    encoding: SmsEncoding
    units: int
    count: int


# (units in a single message, units per part of a split one)
_CAPACITY = {SmsEncoding.GSM_7: (160, 153), SmsEncoding.UCS_2: (70, 67)}


def segments(text: str) -> SmsSegments:
    """The segments ``text`` is sent as. An empty body is not a message (providers refuse
    it), so it raises ValueError rather than count as one segment or none."""
    if not text:
        raise ValueError("an SMS body cannot be empty")
    encoding, widths = _encode(text)
    units = sum(widths)
    single, per_part = _CAPACITY[encoding]
    count = 1 if units <= single else _parts(widths, per_part)
    return SmsSegments(encoding, units, count)


def _encode(text: str) -> tuple[SmsEncoding, list[int]]:
    """The encoding the body needs and each character's width in its units."""
    if all(ch in _GSM_SEPTETS for ch in text):
        return SmsEncoding.GSM_7, [_GSM_SEPTETS[ch] for ch in text]
    return SmsEncoding.UCS_2, [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _parts(widths: Iterable[int], per_part: int) -> int:
    parts, used = 1, 0
    for width in widths:
        if used + width > per_part:  # the character would be cut: it opens the next part
            parts, used = parts + 1, 0
        used += width
    return parts


class OptKeyword(StrEnum):
    """What a reply asks for: no more messages, messages again, or help."""

    STOP = "stop"
    START = "start"
    HELP = "help"


# The carriers' and providers' default English keywords: REVOKE and OPTOUT joined the opt-out
# words when the FCC's 2025 revocation rule took effect.
_KEYWORDS = {
    OptKeyword.STOP: (
        *("stop", "stopall", "unsubscribe", "cancel", "end", "quit"),
        *("revoke", "optout"),
    ),
    OptKeyword.START: ("start", "unstop", "yes"),
    OptKeyword.HELP: ("help", "info"),
}
_KEYWORD_OF = {word: keyword for keyword, words in _KEYWORDS.items() for word in words}


def opt_keyword(body: str) -> OptKeyword | None:
    """The keyword a reply is, when the whole reply is one (any case, with spaces and
    punctuation around it: "Stop." is STOP, "please don't stop" is not), else None."""
    return _KEYWORD_OF.get(_bare_word(body).casefold())


def _bare_word(body: str) -> str:
    start, end = 0, len(body)
    while start < end and _is_filler(body[start]):
        start += 1
    while end > start and _is_filler(body[end - 1]):
        end -= 1
    return body[start:end]


def _is_filler(ch: str) -> bool:
    # Punctuation, and invisible format characters some keyboards add (zero-width spaces).
    category = unicodedata.category(ch)
    return ch.isspace() or category.startswith("P") or category == "Cf"

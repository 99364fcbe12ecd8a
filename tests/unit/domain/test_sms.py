"""SMS segments (GSM-7 and UCS-2, with characters never cut across parts) and the keywords a
reply may be."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.domain.sms import OptKeyword, SmsEncoding, SmsSegments, opt_keyword, segments

GSM = SmsEncoding.GSM_7
UCS = SmsEncoding.UCS_2
EXTENSION = "\f^{}\\[~]|€"


# --- GSM-7 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "count"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm_text_takes_160_septets_alone_and_153_per_part(length: int, count: int) -> None:
    assert segments("a" * length) == SmsSegments(GSM, length, count)


def test_a_plain_reminder_is_one_gsm_segment() -> None:
    text = "Hi Ann, we missed you. Reply STOP to opt out."
    assert segments(text) == SmsSegments(GSM, len(text), 1)


def test_the_whole_basic_alphabet_is_gsm() -> None:
    text = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà\n\r"
    assert segments(text) == SmsSegments(GSM, len(text), 1)


@pytest.mark.parametrize("ch", list(EXTENSION))
def test_an_extension_character_takes_two_septets(ch: str) -> None:
    assert segments(ch) == SmsSegments(GSM, 2, 1)
    assert segments(ch * 80) == SmsSegments(GSM, 160, 1)
    assert segments(ch * 80 + "a") == SmsSegments(GSM, 161, 2)


def test_an_extension_character_is_not_cut_at_a_part_boundary() -> None:
    # 152 septets, then "€" (2) would end at 154: it opens the second part instead.
    assert segments("a" * 152 + "€" + "a" * 151) == SmsSegments(GSM, 305, 2)
    # 306 septets fit two parts of 153 only when nothing is cut: here the second part is
    # "€" and 151 letters (153), and the last letter needs a third.
    assert segments("a" * 152 + "€" + "a" * 152) == SmsSegments(GSM, 306, 3)
    # The same septets with the "€" inside the first part take two.
    assert segments("a" * 151 + "€" + "a" * 153) == SmsSegments(GSM, 306, 2)


# --- UCS-2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "count"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_ucs2_text_takes_70_units_alone_and_67_per_part(length: int, count: int) -> None:
    assert segments("你" * length) == SmsSegments(UCS, length, count)


@pytest.mark.parametrize("ch", ["’", "ç", "€\u200b", "Ж"])
def test_one_character_outside_gsm_makes_the_whole_message_ucs2(ch: str) -> None:
    text = "a" * 100 + ch  # 100 GSM letters would be one segment
    assert segments(text) == SmsSegments(UCS, len(text), 2)


def test_an_emoji_message() -> None:
    text = "Hi Ann, we missed you 😀"  # the emoji is a surrogate pair: two UTF-16 units
    assert segments(text) == SmsSegments(UCS, len(text) + 1, 1)
    assert segments("😀" * 35) == SmsSegments(UCS, 70, 1)
    assert segments("😀" * 36) == SmsSegments(UCS, 72, 2)


def test_a_surrogate_pair_is_not_cut_at_a_part_boundary() -> None:
    # 66 units, then the emoji would end at 68 of 67: it opens the second part.
    assert segments("x" * 66 + "😀" + "x" * 65) == SmsSegments(UCS, 133, 2)
    assert segments("x" * 66 + "😀" + "x" * 66) == SmsSegments(UCS, 134, 3)
    assert segments("x" * 65 + "😀" + "x" * 67) == SmsSegments(UCS, 134, 2)


def test_an_empty_body_is_not_a_message() -> None:
    with pytest.raises(ValueError, match="empty"):
        segments("")


_GSM_BASIC = st.sampled_from(list("@£$¥èéùìòÇØøÅåΔ_abcdefghijklmnopqrstuvwxyz0123456789 .,!?"))


@given(st.lists(_GSM_BASIC, min_size=1, max_size=1000).map("".join))
def test_basic_gsm_text_is_counted_by_its_length(text: str) -> None:
    n = len(text)
    assert segments(text) == SmsSegments(GSM, n, 1 if n <= 160 else math.ceil(n / 153))


@given(st.text(st.characters(codec="utf-8", min_codepoint=0x100), min_size=1, max_size=400))
def test_a_part_never_holds_more_than_its_units(text: str) -> None:
    got = segments(text)
    # Keeping characters whole can cost parts, never save them: a part loses at most one unit.
    per_part = 153 if got.encoding is GSM else 67
    single = 160 if got.encoding is GSM else 70
    if got.units <= single:
        assert got.count == 1
    else:
        assert math.ceil(got.units / per_part) <= got.count
        assert got.count <= math.ceil(got.units / (per_part - 1))


# --- keywords ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        *((w, OptKeyword.STOP) for w in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END")),
        *((w, OptKeyword.STOP) for w in ("QUIT", "REVOKE", "OPTOUT")),
        *((w, OptKeyword.START) for w in ("START", "UNSTOP", "YES")),
        *((w, OptKeyword.HELP) for w in ("HELP", "INFO")),
    ],
)
def test_the_default_keywords(body: str, keyword: OptKeyword) -> None:
    assert opt_keyword(body) is keyword
    assert opt_keyword(body.lower()) is keyword
    assert opt_keyword(body.title()) is keyword


@pytest.mark.parametrize(
    "body", ["stop.", " Stop ", "STOP!", "stop\n", "¡Stop!", '"stop"', "\u200bSTOP", "stop..."]
)
def test_spaces_and_punctuation_around_the_keyword_are_ignored(body: str) -> None:
    assert opt_keyword(body) is OptKeyword.STOP


@pytest.mark.parametrize(
    "body",
    [
        "please don't stop",
        "stop please",
        "STOP ALL",  # two words: not a default keyword
        "s top",
        "stopp",
        "stop 🛑",
        "yes please",
        "",
        "   ",
        "...",
        "Hi, when are you open?",
    ],
)
def test_anything_else_is_not_a_keyword(body: str) -> None:
    assert opt_keyword(body) is None

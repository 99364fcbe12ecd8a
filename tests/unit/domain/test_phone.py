"""Phone numbers: E.164 normalisation with reasons, time zones from the number, log masking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain.phone import (
    UNKNOWN_ZONE,
    InvalidNumber,
    mask,
    normalize,
    zone_key,
    zones_for,
    zones_of_key,
)


@pytest.mark.parametrize(
    "raw",
    [
        "(415) 555-0100",
        "415-555-0100",
        "415.555.0100",
        "415 555 0100",
        "4155550100",
        "1 415 555 0100",
        "+1 (415) 555-0100",
        "+14155550100",
        "  +1 415 555 0100  ",
    ],
)
def test_us_numbers_in_any_layout_normalise_to_e164(raw: str) -> None:
    assert normalize(raw) == "+14155550100"


@pytest.mark.parametrize("raw", ["+44 20 7946 0000", "+44 (0)20 7946 0000", "+442079460000"])
def test_international_numbers_ignore_the_default_region(raw: str) -> None:
    assert normalize(raw) == "+442079460000"
    assert normalize(raw, default_region="FR") == "+442079460000"


def test_national_format_uses_the_default_region() -> None:
    assert normalize("020 7946 0000", default_region="GB") == "+442079460000"
    with pytest.raises(InvalidNumber, match="not a valid phone number"):
        normalize("020 7946 0000")  # not a US number


@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_an_empty_number_is_refused(raw: str) -> None:
    with pytest.raises(InvalidNumber, match="empty"):
        normalize(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "abc",  # letters only
        "12",  # too short
        "555-0100",  # no area code
        "+1 415 555 01",  # one digit short
        "+1 415 555 01000",  # one digit too many
        "+999 123 456",  # no such country code
        "415 555 0100 ext",
    ],
)
def test_an_unusable_number_is_refused_with_the_number_in_the_message(raw: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        normalize(raw)
    message = str(info.value)
    assert repr(raw) in message
    assert "phone number" in message
    assert isinstance(info.value, ValueError)  # callers catching ValueError see it too


def test_new_york_number_is_in_new_york() -> None:
    assert zones_for(normalize("(212) 555-0100"), "Etc/UTC") == ("America/New_York",)


def test_london_number_is_in_london() -> None:
    assert zones_for("+442079460000", "America/New_York") == ("Europe/London",)


@pytest.mark.parametrize(
    ("number", "some_zones"),
    [
        ("+61412345678", {"Australia/Perth", "Australia/Sydney"}),  # an Australian mobile
        ("+79161234567", {"Europe/Moscow", "Asia/Vladivostok"}),  # a Russian mobile
    ],
)
def test_a_number_spanning_several_zones_gives_them_all_sorted(
    number: str, some_zones: set[str]
) -> None:
    zones = zones_for(number, "Etc/UTC")
    assert len(zones) > 1
    assert list(zones) == sorted(zones)
    assert len(set(zones)) == len(zones)
    assert some_zones <= set(zones)
    assert UNKNOWN_ZONE not in zones


def test_a_number_without_a_known_zone_gets_the_fallback() -> None:
    freephone = normalize("+800 1234 5678")  # international freephone: no region, no zone
    assert zones_for(freephone, "America/Chicago") == ("America/Chicago",)
    assert zones_for(freephone, "Europe/Paris") == ("Europe/Paris",)


def test_mask_example() -> None:
    assert mask("+14155550123") == "+1415*****23"


@settings(max_examples=300)
@given(st.text(min_size=0, max_size=20))
def test_mask_never_reveals_more_than_the_first_five_and_last_two(text: str) -> None:
    masked = mask(text)
    assert len(masked) == len(text)
    for i, (shown, original) in enumerate(zip(masked, text, strict=True)):
        if shown != "*":
            assert i < 5 or i >= len(text) - 2, (text, masked)
            assert shown == original


@settings(max_examples=300)
@given(st.integers(10**6, 10**14).map(lambda n: f"+{n}"))  # 8 to 16 characters
def test_mask_hides_the_middle_and_keeps_the_ends(number: str) -> None:
    masked = mask(number)
    head = min(5, len(number) - 6)  # short numbers show less of their start
    assert masked[:head] == number[:head]
    assert masked[-2:] == number[-2:]
    assert set(masked[head:-2]) == {"*"}
    assert masked.count("*") >= 4  # never enough of the number in a log line to call it


def test_mask_hides_the_shortest_valid_numbers() -> None:
    """Iran's UAN numbers are six digits: '+989601' is a valid 7-character E.164 number, and a
    masked number must never be the full number."""
    shortest = normalize("+989601")
    assert shortest == "+989601"
    assert "*" in mask(shortest)


@settings(max_examples=200)
@given(
    st.lists(
        st.text(
            alphabet=st.characters(categories=["L", "N"], include_characters="/_-+"),
            min_size=1,
            max_size=30,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_zone_key_round_trips(zones: list[str]) -> None:
    key = zone_key(tuple(zones))
    assert zones_of_key(key) == tuple(zones)


def test_zone_key_of_real_zones() -> None:
    zones = zones_for("+61412345678", "Etc/UTC")
    key = zone_key(zones)
    assert zones_of_key(key) == zones
    assert zone_key(("America/New_York",)) == "America/New_York"
    assert zone_key(("America/Denver", "America/Phoenix")) != zone_key(
        ("America/Phoenix", "America/Denver")
    )


@pytest.mark.parametrize("raw", ["+1312555xxxx", "212-555-CALL", "1-800-FLOWERS"])
def test_letters_in_a_number_are_refused_by_default(raw: str) -> None:
    """The parser would map letters to keypad digits: a typo or a placeholder such as
    '555-xxxx' would become somebody's real number."""
    with pytest.raises(InvalidNumber, match="letters") as info:
        normalize(raw)
    assert repr(raw) in str(info.value)


def test_vanity_numbers_are_read_as_keypad_digits_when_allowed() -> None:
    assert normalize("212-555-CALL", allow_vanity=True) == "+12125552255"
    assert normalize("1-800-FLOWERS", allow_vanity=True) == "+18003569377"


@pytest.mark.parametrize(
    ("raw", "extension"),
    [
        ("212.555.0142 x12", "12"),
        ("+1 212 555 0142 ext. 7", "7"),
        ("+12125550142#12", "12"),
        ("tel:+1-212-555-0142;ext=12", "12"),
    ],
)
@pytest.mark.parametrize("allow_vanity", [False, True])
def test_a_number_with_an_extension_is_refused_never_cut(
    raw: str, extension: str, allow_vanity: bool
) -> None:
    with pytest.raises(InvalidNumber, match=f"extension {extension}") as info:
        normalize(raw, allow_vanity=allow_vanity)
    assert repr(raw) in str(info.value)


def test_a_very_long_input_is_quoted_shortened_in_the_reason() -> None:
    raw = "1" * 5000
    with pytest.raises(InvalidNumber) as info:
        normalize(raw)
    assert len(str(info.value)) < 200

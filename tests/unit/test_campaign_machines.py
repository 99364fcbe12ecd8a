"""The campaign file's ``machine_detection`` and ``retry.machine``: read, stored and read back
unchanged, and refused with errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from dialer.campaign_document import settings_from_mapping, settings_from_yaml, settings_to_mapping
from dialer.domain.machines import DetectionMode, MachineDetection, Voicemail
from dialer.domain.retry import FixedDelays, Outcome
from dialer.errors import InvalidInput

CAMPAIGN = """\
name: reminders
caller_id: "+14155550100"
retry:
  max_attempts: 3
  no_answer: [10m]
  machine: [2h, 1d]
machine_detection:
  mode: detect_end
  voicemail: {text: "Hi, this is Acme. Please call us back."}
"""
MINIMAL: dict[str, Any] = {"name": "x", "caller_id": "+14155550100"}


def test_machine_detection_and_the_machine_rule_are_read() -> None:
    got = settings_from_yaml(CAMPAIGN)
    assert got.machine_detection == MachineDetection(
        DetectionMode.DETECT_END, Voicemail(text="Hi, this is Acme. Please call us back.")
    )
    assert got.retry.rules[Outcome.MACHINE] == FixedDelays((7200, 86400))


@pytest.mark.parametrize(
    "detection",
    [
        {"mode": "detect"},
        {"mode": "detect_end"},
        {"mode": "detect_end", "voicemail": {"text": "Call us back.\nThanks."}},
        {"mode": "detect_end", "voicemail": {"url": "https://example.com/vm.mp3"}},
    ],
)
def test_machine_detection_survives_the_stored_form(detection: dict[str, Any]) -> None:
    original = settings_from_mapping(MINIMAL | {"machine_detection": detection})
    stored = settings_to_mapping(original)
    assert stored["machine_detection"] == detection
    assert settings_from_mapping(stored) == original
    assert settings_from_yaml(yaml.safe_dump(stored)) == original


def test_without_machine_detection_nothing_is_stored() -> None:
    stored = settings_to_mapping(settings_from_mapping(MINIMAL))
    assert "machine_detection" not in stored
    assert settings_from_mapping(MINIMAL).machine_detection is None


def test_the_machine_rule_survives_the_stored_form() -> None:
    stored = settings_to_mapping(settings_from_yaml(CAMPAIGN))
    assert stored["retry"]["machine"] == ["2h", "1d"]


def _problems(detection: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        settings_from_mapping(MINIMAL | {"machine_detection": detection})
    return {p.location: p.message for p in info.value.problems}


@pytest.mark.parametrize(
    ("detection", "where", "words"),
    [
        ({}, "machine_detection.mode", "Field required"),
        ({"mode": "amd"}, "machine_detection.mode", "'detect' or 'detect_end'"),
        (
            {"mode": "detect", "voicemail": {"text": "hi"}},
            "machine_detection.voicemail",
            "detect_end",
        ),
        ({"mode": "detect_end", "voicemail": {}}, "machine_detection.voicemail", "either text"),
        (
            {"mode": "detect_end", "voicemail": {"text": "hi", "url": "https://e.example/a.mp3"}},
            "machine_detection.voicemail",
            "either text",
        ),
        (
            {"mode": "detect_end", "voicemail": {"url": "ftp://e.example/a.mp3"}},
            "machine_detection.voicemail.url",
            "http or https",
        ),
        (
            {"mode": "detect_end", "voicemail": {"text": "  "}},
            "machine_detection.voicemail.text",
            "must say something",
        ),
        (
            {"mode": "detect_end", "voicemail": {"text": "a\x00b"}},
            "machine_detection.voicemail.text",
            "control characters",
        ),
        (
            {"mode": "detect_end", "voicemail": {"text": "x" * 4001}},
            "machine_detection.voicemail.text",
            "at most 4000",
        ),
        ({"mode": "detect", "beep": True}, "machine_detection.beep", "Extra inputs"),
        ("detect", "machine_detection", "valid dictionary"),
    ],
)
def test_bad_machine_detection_names_the_field(detection: Any, where: str, words: str) -> None:
    found = _problems(detection)
    assert list(found) == [where], found
    assert words in found[where]


def test_a_bad_machine_rule_names_its_index() -> None:
    with pytest.raises(InvalidInput) as info:
        settings_from_mapping(MINIMAL | {"retry": {"machine": ["2h", "soon"]}})
    assert [p.location for p in info.value.problems] == ["retry.machine[1]"]

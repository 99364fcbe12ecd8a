"""The campaign file's ``machine_detection``: answering-machine detection on its calls, and the
voicemail left after the beep.

    machine_detection:
      mode: detect_end            # detect: who answered, as soon as known
                                  # detect_end: for a machine, once its greeting has ended
      voicemail:                  # optional, with detect_end: left after the beep, then hang up
        text: "Hi, this is Acme. Please call us back."   # spoken, or:
        # url: https://example.com/recording.mp3          # a recording played

A call a machine answers ends with the outcome ``machine``: ``retry: {machine: [2h]}`` retries
it (without a ``machine`` rule, the ``no_answer`` rule applies) and a step's ``when: [machine]``
runs after it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from dialer.campaign_steps import Strict
from dialer.domain.machines import DetectionMode, MachineDetection, Voicemail
from dialer.domain.urls import check_http_url

MAX_VOICEMAIL_TEXT = 4000  # characters: a few minutes of speech, well under providers' limits
_NOT_SPEAKABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # control characters but \t and \n


def _speakable(text: str) -> str:
    if _NOT_SPEAKABLE.search(text):
        raise ValueError("cannot contain control characters other than tabs and line breaks")
    if not text.strip():
        raise ValueError("must say something")
    return text


SpokenText = Annotated[str, Field(max_length=MAX_VOICEMAIL_TEXT), AfterValidator(_speakable)]


class VoicemailSpec(Strict):
    """Text spoken by the provider's text to speech, or a recording's URL it plays."""

    text: SpokenText | None = None
    url: Annotated[str, AfterValidator(check_http_url)] | None = None

    @model_validator(mode="after")
    def _one(self) -> VoicemailSpec:
        if (self.text is None) == (self.url is None):
            raise ValueError("give either text (spoken) or url (a recording played)")
        return self

    def voicemail(self) -> Voicemail:
        return Voicemail(text=self.text, url=self.url)


class MachineDetectionSpec(Strict):
    mode: Literal["detect", "detect_end"]
    voicemail: VoicemailSpec | None = None

    @field_validator("voicemail")
    @classmethod
    def _after_the_beep(cls, value: VoicemailSpec | None, info: ValidationInfo) -> Any:
        mode = info.data.get("mode")
        if value is not None and mode is not None and mode != DetectionMode.DETECT_END:
            raise ValueError(
                "a voicemail is left after the beep: it needs mode detect_end, not detect"
            )
        return value

    def detection(self) -> MachineDetection:
        voicemail = self.voicemail.voicemail() if self.voicemail else None
        return MachineDetection(DetectionMode(self.mode), voicemail)


def machine_detection(spec: MachineDetectionSpec | None) -> MachineDetection | None:
    return spec.detection() if spec is not None else None


def machine_detection_document(detection: MachineDetection) -> dict[str, Any]:
    """The normalised document form, read back unchanged."""
    doc: dict[str, Any] = {"mode": detection.mode.value}
    voicemail = detection.voicemail
    if voicemail is not None:
        doc["voicemail"] = {"text": voicemail.text} if voicemail.text else {"url": voicemail.url}
    return doc

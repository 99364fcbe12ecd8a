"""Answering machines: who answered a call, how a campaign asks its provider to find out, and
the voicemail it leaves once a machine's greeting has ended.

A provider's answering-machine detection (AMD) listens to the first seconds of an answered call.
In ``detect`` mode it reports who answered as soon as it knows; in ``detect_end`` mode it waits,
for a machine, until the greeting has ended (the beep), the moment a voicemail can be left.
A call a machine (or a fax) answered is not a conversation: it ends as ``MACHINE``, retried by
the policy's ``machine`` rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AnsweredBy(StrEnum):
    """Who or what picked up, in provider-neutral words."""

    HUMAN = "human"
    MACHINE = "machine"  # an answering machine or a voicemail box
    FAX = "fax"
    UNKNOWN = "unknown"  # detection could not tell

    @property
    def is_machine(self) -> bool:
        """Not a person: the call is no conversation, whatever its length."""
        return self in {AnsweredBy.MACHINE, AnsweredBy.FAX}


class DetectionMode(StrEnum):
    DETECT = "detect"  # who answered, as soon as it is known
    DETECT_END = "detect_end"  # a machine is reported once its greeting has ended


@dataclass(frozen=True)
class Voicemail:
    """What is left on a machine after the beep: text spoken, or a recording played."""

    text: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.url is None):
            raise ValueError("a voicemail is either a text or a recording's URL")


@dataclass(frozen=True)
class MachineDetection:
    """A campaign's answering-machine detection, and the voicemail it leaves (``detect_end``
    only: the message must start after the beep, or the machine records half of it)."""

    mode: DetectionMode = DetectionMode.DETECT
    voicemail: Voicemail | None = None

    def __post_init__(self) -> None:
        if self.voicemail is not None and self.mode is not DetectionMode.DETECT_END:
            raise ValueError("a voicemail needs mode detect_end (it is left after the beep)")

    def voicemail_after(
        self, answered_by: AnsweredBy | None, greeting_ended: bool
    ) -> Voicemail | None:
        """The voicemail to leave now that the provider reported this, if any."""
        if answered_by is AnsweredBy.MACHINE and greeting_ended:
            return self.voicemail
        return None


def merge_answered_by(known: AnsweredBy | None, reported: AnsweredBy | None) -> AnsweredBy | None:
    """What an attempt records once a provider reported ``reported``: a definite answer is
    kept, and replaces only none or ``unknown`` (a late status callback saying less, or a
    duplicate, never undoes what detection found)."""
    if reported is None or known not in (None, AnsweredBy.UNKNOWN):
        return known
    return reported

"""The TwiML Dialer writes itself: what an answered call does when the campaign has no answer
URL, and the voicemail left on a machine after the beep."""

from __future__ import annotations

from xml.sax.saxutils import escape

from dialer.domain.machines import Voicemail

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
# Used when a request has no answer URL: answer, then hang up after a second.
DEFAULT_TWIML = f'{XML_HEAD}<Response><Pause length="1"/></Response>'
# With answering-machine detection and no answer URL, the call is held this long (seconds)
# so detection can finish: Twilio listens up to its MachineDetectionTimeout (30 s by default).
DETECTION_HOLD = 35


def hold(seconds: int) -> str:
    """Answer and stay silent ``seconds``, then hang up."""
    return f'{XML_HEAD}<Response><Pause length="{seconds}"/></Response>'


def voicemail(message: Voicemail) -> str:
    """Speak the text (or play the recording), then hang up."""
    if message.text is not None:
        verb = f"<Say>{escape(message.text)}</Say>"
    else:
        verb = f"<Play>{escape(message.url or '')}</Play>"
    return f"{XML_HEAD}<Response>{verb}<Hangup/></Response>"

"""What the simulator saw, counted from the provider's side and independently of any dialer:
the figures that prove (or disprove) the dialer's caps and its one-call-per-number rule.

A call is active from the moment its create is accepted until its terminal status. Every event
costs O(1). ``reset()`` starts a new measurement window: counters go to zero and every peak
restarts from what is active right now (calls still live stay counted until they end).
Messages are counted per channel beside the calls (message_observer.py), under ``sms`` and
``email`` in the report.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from dialer.simulator.message_observer import EmailObserver, SmsObserver

MACHINE_COUNTS = (
    "machines_answered",
    "machines_detected",
    "humans_detected",
    "twiml_updates",
    "voicemails_left",
    "voicemails_before_beep",
    "messages_to_people",
)
LIST_LIMIT = 1000  # lists in the report stop growing here; their counts stay exact
STARTS_LIMIT = 200_000  # simulated start instants kept (only with an epoch set)


class KeyedGauge:
    """Active counts per key and the peak of each since the last reset."""

    def __init__(self) -> None:
        self.active: Counter[str] = Counter()
        self.peak: dict[str, int] = {}

    def up(self, key: str) -> int:
        """Count one more for ``key``; return how many were active before it."""
        before = self.active[key]
        self.active[key] = before + 1
        if before + 1 > self.peak.get(key, 0):
            self.peak[key] = before + 1
        return before

    def down(self, key: str) -> None:
        left = self.active[key] - 1
        if left > 0:
            self.active[key] = left
        else:
            del self.active[key]

    def restart_peaks(self) -> None:
        self.peak = dict(self.active)


class Observer:
    def __init__(self) -> None:
        self.active_now = 0
        self._by_number = KeyedGauge()
        self._by_caller_id = KeyedGauge()
        self._by_campaign = KeyedGauge()
        self.sms = SmsObserver()
        self.email = EmailObserver()
        self._new_window()

    def _new_window(self) -> None:
        self.peak_active = self.active_now
        self.counts: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.calls_per_number: Counter[str] = Counter()
        self.max_calls_per_number = 0
        self.overlapping_numbers: dict[str, None] = {}  # ordered set
        self._seen_callback_urls: set[str] = set()
        self.repeated_urls: list[str] = []
        self.call_starts: dict[str, list[str]] = {}  # number -> simulated start instants
        self.placed: list[dict[str, str | None]] = []  # each call's to, from and answer URL
        self._starts_recorded = 0
        for gauge in (self._by_number, self._by_caller_id, self._by_campaign):
            gauge.restart_peaks()

    def reset(self) -> None:
        self._new_window()
        self.sms.reset()
        self.email.reset()

    # ------------------------------------------------------------ events

    def call_started(
        self, to: str, from_: str, callback_url: str | None, campaign: str | None
    ) -> None:
        self.counts["calls_created"] += 1
        self.active_now += 1
        self.peak_active = max(self.peak_active, self.active_now)
        if self._by_number.up(to) > 0:
            self.counts["overlapping_calls_to_same_number"] += 1
            self._note(self.overlapping_numbers, to)
        self._by_caller_id.up(from_)
        if campaign is not None:
            self._by_campaign.up(campaign)
        self.calls_per_number[to] += 1
        self.max_calls_per_number = max(self.max_calls_per_number, self.calls_per_number[to])
        self._note_callback_url(callback_url)

    def call_placed(self, to: str, from_: str, answer_url: str | None) -> None:
        """Who called the number, and where its instructions were to be fetched."""
        if len(self.placed) < LIST_LIMIT:
            self.placed.append({"to": to, "from": from_, "answer_url": answer_url})

    def call_started_at(self, to: str, instant: datetime) -> None:
        """The call's start on the simulated clock (recorded only when an epoch is set)."""
        if self._starts_recorded < STARTS_LIMIT:
            self.call_starts.setdefault(to, []).append(instant.isoformat())
            self._starts_recorded += 1

    def call_ended(self, to: str, from_: str, campaign: str | None, status: str) -> None:
        self.active_now -= 1
        self._by_number.down(to)
        self._by_caller_id.down(from_)
        if campaign is not None:
            self._by_campaign.down(campaign)
        self.outcomes[status] += 1

    def count(self, what: str) -> None:
        """One more of a plain counter: rejected_429, rejected_5xx, rejected_4xx, hangups,
        callbacks_sent, callbacks_answered_4xx, callbacks_answered_5xx, callbacks_failed,
        callbacks_retried, callbacks_lost,
        callbacks_duplicated, callbacks_reordered, idempotent_replays; answering machines:
        machines_answered (calls a machine picked up), machines_detected and humans_detected
        (detection reports), twiml_updates, voicemails_left (a Say or Play given to a machine
        after its beep), voicemails_before_beep (given during its greeting: cut off),
        messages_to_people (given to a call a person answered)."""
        self.counts[what] += 1

    def _note_callback_url(self, url: str | None) -> None:
        # The StatusCallback URL names one dialer attempt: seeing it twice is a re-origination.
        if not url:
            return
        if url in self._seen_callback_urls:
            self.counts["repeated_originations"] += 1
            if len(self.repeated_urls) < LIST_LIMIT:
                self.repeated_urls.append(url)
        else:
            self._seen_callback_urls.add(url)

    @staticmethod
    def _note(ordered: dict[str, None], key: str) -> None:
        if len(ordered) < LIST_LIMIT:
            ordered[key] = None

    # ------------------------------------------------------------ report

    def snapshot(self) -> dict[str, Any]:
        counted = (
            "calls_created",
            "rejected_429",
            "rejected_5xx",
            "rejected_4xx",
            "hangups",
            "overlapping_calls_to_same_number",
            "repeated_originations",
            "callbacks_sent",
            "callbacks_answered_4xx",
            "callbacks_answered_5xx",
            "callbacks_failed",
            "callbacks_retried",
            "callbacks_lost",
            "callbacks_duplicated",
            "callbacks_reordered",
            "idempotent_replays",
            *MACHINE_COUNTS,
        )
        return {
            **{name: self.counts[name] for name in counted},
            "active_now": self.active_now,
            "peak_active": self.peak_active,
            "peak_active_by_caller_id": dict(self._by_caller_id.peak),
            "peak_active_by_campaign": dict(self._by_campaign.peak),
            "overlapping_numbers": list(self.overlapping_numbers),
            "calls_per_number": dict(self.calls_per_number),
            "max_calls_per_number": self.max_calls_per_number,
            "repeated_origination_urls": list(self.repeated_urls),
            "outcomes": dict(self.outcomes),
            "call_starts": {number: list(starts) for number, starts in self.call_starts.items()},
            "calls_placed": list(self.placed),
            "sms": self.sms.snapshot(),
            "email": self.email.snapshot(),
        }

"""The instant every test's clock starts from."""

from __future__ import annotations

from datetime import UTC, datetime

# A Tuesday, mid-morning in New York: inside the usual calling windows.
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)

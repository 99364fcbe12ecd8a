"""What the admission contract's tests share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dialer.ports import Admission

# Builds a backend of the parametrised kind; ready=False: its state is not known-good yet
# (a fresh process, or Redis after losing its data) until rebuild() has run.
MakeAdmission = Callable[..., Awaitable[Admission]]

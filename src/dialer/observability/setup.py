"""What every process does first: logging and tracing configured from the environment."""

from __future__ import annotations

from dialer.observability.logs import configure_logging
from dialer.observability.tracing import configure_tracing
from dialer.settings import load_observability_settings


def start_observability(command: str | None, *, verbose: bool = False) -> None:
    """Configure logs (and tracing, if asked for) for the ``dialer COMMAND`` process.
    Raises InvalidInput naming a bad DIALER_LOG_* or DIALER_TRACING* variable."""
    settings = load_observability_settings()
    configure_logging(settings, command=command, verbose=verbose)
    configure_tracing(settings, service=f"dialer-{command}" if command else "dialer")

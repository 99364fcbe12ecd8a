"""What every process does first: logging and tracing configured from the environment."""

from __future__ import annotations

import atexit
import logging
import os

from dialer.observability.logs import configure_logging
from dialer.observability.tracing import install
from dialer.settings import ObservabilitySettings, load_observability_settings

log = logging.getLogger(__name__)


def start_observability(command: str | None, *, verbose: bool = False) -> None:
    """Configure logs (and tracing, if asked for) for the ``dialer COMMAND`` process.
    Raises InvalidInput naming a bad DIALER_LOG_* or DIALER_TRACING* variable."""
    settings = load_observability_settings()
    configure_logging(settings, command=command, verbose=verbose)
    configure_tracing(settings, service=f"dialer-{command}" if command else "dialer")


def configure_tracing(settings: ObservabilitySettings, service: str = "dialer") -> bool:
    """Turn tracing on when DIALER_TRACING says so and the extra is installed. The exporter:
    DIALER_TRACING_EXPORTER, else OTEL_TRACES_EXPORTER, else otlp (its endpoint and headers
    from the standard OTEL_EXPORTER_OTLP_* variables)."""
    if not settings.tracing or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        install(None)
        return False
    try:
        from dialer.observability import otel
    except ImportError:
        log.warning("DIALER_TRACING is on, but the tracing extra is not installed: no spans")
        return False
    exporter = settings.tracing_exporter or os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    provider = otel.make_provider(exporter.split(",")[0].strip(), service)
    atexit.register(provider.shutdown)  # flush what is batched
    install(otel.OtelBackend(provider))
    return True

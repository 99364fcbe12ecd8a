"""One typed settings object, read from the environment (``DIALER_`` prefix), checked at start."""

from __future__ import annotations

import math
import re
from typing import Literal, TypeVar

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from dialer.domain.model import Rate, Rates
from dialer.errors import InvalidInput, Problem

LEASE_MARGIN_SECONDS = 60
QUEUE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"  # a broker queue


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class IncoherentSettings(ValueError):
    """Settings each valid alone that contradict one another, one problem per variable."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.location}: {p.message}" for p in problems))
        self.problems = problems


class ObservabilitySettings(BaseSettings):
    """How the process logs and traces. Read on their own as every command starts
    (``load_observability_settings``), so that a command needing no other setting is not
    stopped by them; ``Settings`` holds them too."""

    model_config = SettingsConfigDict(env_prefix="DIALER_", extra="ignore", frozen=True)

    log_format: Literal["json", "console"] | None = None  # unset: json, console for a person
    log_level: str | None = None  # unset: WARNING, or INFO with --verbose
    tracing: bool = False  # OpenTelemetry spans (needs the `tracing` extra)
    # unset: OTEL_TRACES_EXPORTER, else otlp
    tracing_exporter: Literal["otlp", "console", "none"] | None = None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
        return value.upper()


class Settings(ObservabilitySettings):
    model_config = SettingsConfigDict(env_prefix="DIALER_", extra="ignore", frozen=True)

    database_url: str = "sqlite:///dialer.db"
    redis_url: str | None = None
    redis_namespace: str = Field(default="dialer", min_length=1, max_length=64)
    reconcile_seconds: float = Field(default=10.0, ge=1, le=3600)
    broker_url: str | None = None
    provider: Literal["twilio", "plivo", "telnyx"] = "twilio"
    public_base_url: str | None = None
    listen: str = "127.0.0.1:8000"
    tenant: str = "default"
    global_max_concurrency: int = Field(default=10000, ge=1, le=1_000_000)
    campaign_max_concurrency: int = Field(default=100, ge=1, le=1_000_000)
    lease_ttl_seconds: int = Field(default=600, ge=30, le=86400)
    dispatch_batch_size: int = Field(default=200, ge=1, le=10000)
    # Backpressure: attempts admitted and not yet sent, across the deployment, beyond which
    # dispatchers claim nothing (docs/operations.md, "Backpressure").
    dispatch_max_unsent: int = Field(default=100, ge=1, le=1_000_000)
    tick_seconds: float = Field(default=0.05, gt=0, le=60)
    reaper_seconds: float = Field(default=5.0, gt=0, le=3600)
    max_in_flight_requests: int = Field(default=200, ge=1, le=10000)
    provider_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    global_rate_per_second: float | None = Field(default=None, gt=0, le=100_000)
    global_rate_burst: int | None = Field(default=None, ge=1, le=1_000_000)
    global_rate_per_minute: int | None = Field(default=None, ge=1, le=10_000_000)
    global_rate_per_hour: int | None = Field(default=None, ge=1, le=100_000_000)
    number_max_attempts: int = Field(default=3, ge=1, le=1000)
    number_window_seconds: int = Field(default=86400, ge=1, le=30 * 86400)
    conversation_cooldown_seconds: int = Field(default=86400, ge=0, le=365 * 86400)
    # REST API: backlog guard, request size limits, idempotency retention
    api_max_pending_calls: int = Field(default=100_000, ge=1, le=100_000_000)
    api_max_json_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    api_max_upload_bytes: int = Field(default=512 << 20, ge=1024, le=16 << 30)
    api_idempotency_hours: int = Field(default=24, ge=1, le=24 * 30)

    twilio_account_sid: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID")
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN")
    )
    twilio_api_base: str = "https://api.twilio.com"
    # Email steps: smtp://user:pass@host:port (STARTTLS when offered) or smtps://... (TLS).
    smtp_url: SecretStr | None = None
    smtp_pool_size: int = Field(default=4, ge=1, le=100)
    smtp_ca_file: str | None = None  # a private CA the SMTP server's certificate is signed by
    # Deployment-wide send rates per channel (messages per second; unset: no such limit).
    sms_rate_per_second: float | None = Field(default=None, gt=0)
    email_rate_per_second: float | None = Field(default=None, gt=0)

    # ---- providers and resilience: Plivo, Telnyx, circuit breaker, adaptive pacing
    plivo_auth_id: str | None = Field(default=None, validation_alias=AliasChoices("PLIVO_AUTH_ID"))
    plivo_auth_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PLIVO_AUTH_TOKEN")
    )
    plivo_api_base: str = "https://api.plivo.com"
    telnyx_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TELNYX_API_KEY")
    )
    telnyx_public_key: str | None = Field(
        default=None, validation_alias=AliasChoices("TELNYX_PUBLIC_KEY")
    )
    telnyx_connection_id: str | None = Field(
        default=None, validation_alias=AliasChoices("TELNYX_CONNECTION_ID")
    )
    telnyx_api_base: str = "https://api.telnyx.com"
    # The status callbacks asked of the provider. lean: the answer and the ending, all the
    # attempt's states need (one webhook transaction each). all: ringing too (Twilio's
    # initiated and ringing, Plivo's ring_url), for operators who want to see calls ringing.
    callback_events: Literal["lean", "all"] = "lean"
    breaker_failure_ratio: float = Field(default=0.5, gt=0, le=1)
    breaker_window_seconds: float = Field(default=60.0, ge=1, le=3600)
    breaker_min_calls: int = Field(default=20, ge=1, le=100_000)
    breaker_open_seconds: float = Field(default=30.0, gt=0, le=3600)
    breaker_probes: int = Field(default=3, ge=1, le=1000)
    provider_max_cps: float = Field(default=100.0, gt=0, le=100_000)  # pacing ceiling
    provider_min_cps: float = Field(default=1.0, gt=0, le=100_000)  # pacing floor
    provider_cps_step: float = Field(default=1.0, gt=0, le=100_000)  # added per second of success

    # ---- distributed execution: Celery dispatchers, workers and beat
    default_queue: str = Field(default="dialer", pattern=QUEUE_NAME, max_length=100)
    queue_routes: str = ""  # "campaign:NAME=QUEUE,tenant:NAME=QUEUE": dedicated worker queues
    task_batch_size: int = Field(default=50, ge=1, le=1000)  # originations per Celery task
    worker_in_flight: int = Field(default=50, ge=1, le=1000)  # provider requests per task
    worker_concurrency: int = Field(default=2, ge=1, le=64)  # processes per `dialer worker`
    worker_max_tasks_per_child: int = Field(default=1000, ge=1, le=1_000_000)
    worker_max_memory_per_child: int = Field(default=262_144, ge=32_768, le=64 << 20)  # KiB
    job_retries: int = Field(default=3, ge=0, le=10)  # in-place retries of a transient failure
    job_retry_backoff_seconds: float = Field(default=0.5, gt=0, le=60)
    broker_visibility_timeout: int = Field(default=300, ge=5, le=86_400)  # Redis broker only
    heartbeat_seconds: float = Field(default=5.0, ge=0.1, le=3600)
    heartbeat_retention_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)
    housekeeping_seconds: float = Field(default=30.0, ge=0.5, le=3600)
    unsent_grace_seconds: float = Field(default=60.0, ge=1, le=86_400)
    quiet_call_seconds: float = Field(default=180.0, ge=1, le=86_400)
    # `dialer run`: a call accepted this long ago with no status callback heard since raises
    # a warning, and such calls are looked up at the provider instead of waiting.
    callback_silence_seconds: float = Field(default=30.0, ge=1, le=3600)
    # How long a starting process waits for Redis or the database server to answer, trying
    # again with back-off, before it gives up (0: give up at once).
    startup_wait_seconds: float = Field(default=60.0, ge=0, le=3600)

    @field_validator("queue_routes")
    @classmethod
    def _known_routes(cls, value: str) -> str:
        parse_queue_routes(value)  # raises ValueError naming the bad entry
        return value

    @property
    def queue_route_map(self) -> dict[str, str]:
        """``campaign:NAME`` / ``tenant:NAME`` -> queue, from DIALER_QUEUE_ROUTES."""
        return parse_queue_routes(self.queue_routes)

    # Outbound event webhooks (docs/integrations.md).
    webhook_retry_hours: float = Field(default=24.0, gt=0, le=24 * 7)  # then a dead letter
    webhook_allow_http: bool = False  # plain http endpoints: development and tests only
    webhook_allow_private: bool = False  # loopback/private/link-local endpoints: likewise
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=4, ge=1, le=100)  # requests per endpoint at once
    webhook_breaker_failures: int = Field(default=5, ge=1, le=1000)  # failures in a row
    webhook_breaker_seconds: float = Field(default=60.0, gt=0, le=86_400)  # pause, then probe
    webhook_batch_size: int = Field(default=100, ge=1, le=10_000)
    webhook_tick_seconds: float = Field(default=0.5, gt=0, le=60)

    # ---- metrics: a dispatcher's or worker's own figures, and the scrape cache
    metrics_port: int | None = Field(default=None, ge=1, le=65535)  # unset: no exporter
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 to let a Prometheus on another host scrape
    metrics_cache_seconds: float = Field(default=5.0, ge=0, le=300)  # store figures' max age

    # Contacts' numbers may be written with keypad letters (1-800-FLOWERS); off, a number
    # with letters is refused: the parser would turn a typo or a placeholder into digits.
    allow_vanity_numbers: bool = False

    # A campaign's answer_url may name loopback, private, link-local or cloud metadata hosts
    # only when this is true (a lab whose provider or simulator runs inside the network).
    allow_private_answer_urls: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        problems = [*self._cap_conflicts(), *self._listen_problems()]
        if problems:
            raise IncoherentSettings(problems)
        return self

    def _cap_conflicts(self) -> list[Problem]:
        """Limits that must not exceed another one, each named by its variable."""
        pairs = [
            ("campaign_max_concurrency", "global_max_concurrency"),
            ("provider_min_cps", "provider_max_cps"),
        ]
        return [
            Problem(
                variable_name(low),
                f"{self._shown(low)} cannot exceed {variable_name(high)} ({getattr(self, high)})",
            )
            for low, high in pairs
            if getattr(self, low) > getattr(self, high)
        ]

    def _shown(self, field: str) -> str:
        """A value as the operator set it; a default says so, since they never wrote it."""
        value = str(getattr(self, field))
        return value if field in self.model_fields_set else f"{value} (the default)"

    def _listen_problems(self) -> list[Problem]:
        host, _, port = self.listen.rpartition(":")
        if host and port.isdigit():
            return []
        return [Problem("DIALER_LISTEN", f"must be HOST:PORT, got {self.listen!r}")]

    @property
    def global_rates(self) -> Rates:
        """The deployment-wide start rates, per second, minute and hour (each optional)."""
        rates = []
        if self.global_rate_per_second is not None:
            burst = self.global_rate_burst or max(1, math.ceil(self.global_rate_per_second))
            rates.append(Rate(self.global_rate_per_second, burst))
        if self.global_rate_per_minute is not None:
            rates.append(Rate.per_period(self.global_rate_per_minute, 60))
        if self.global_rate_per_hour is not None:
            rates.append(Rate.per_period(self.global_rate_per_hour, 3600))
        return tuple(rates)

    @property
    def channel_rates(self) -> dict[str, Rates]:
        """The deployment-wide send rate of each message channel that has one."""
        given = {"sms": self.sms_rate_per_second, "email": self.email_rate_per_second}
        return {
            channel: (Rate(per_second, max(1, math.ceil(per_second))),)
            for channel, per_second in given.items()
            if per_second is not None
        }

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def webhook_base(self) -> str:
        return (self.public_base_url or f"http://{self.listen}").rstrip("/")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise InvalidInput naming each bad variable."""
    return _load(Settings, overrides)


def load_observability_settings(**overrides: object) -> ObservabilitySettings:
    """Only the logging and tracing settings, checked like the others."""
    return _load(ObservabilitySettings, overrides)


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def _load(kind: type[SettingsT], overrides: dict[str, object]) -> SettingsT:
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise InvalidInput([p for err in exc.errors() for p in _problems(err)]) from exc


def _problems(err: ErrorDetails) -> list[Problem]:
    """One validation error as problems named by environment variable: a field's own error
    names its variable, a conflict between settings names each variable involved."""
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, IncoherentSettings):
        return cause.problems
    field = str(err["loc"][0]) if err["loc"] else "settings"
    return [Problem(variable_name(field), err["msg"].removeprefix("Value error, "))]


def variable_name(field: str) -> str:
    """``global_max_concurrency`` -> ``DIALER_GLOBAL_MAX_CONCURRENCY``; the vendors' own
    credentials (``TWILIO_AUTH_TOKEN``...) keep their names."""
    vendor = field.upper().startswith(("TWILIO", "PLIVO", "TELNYX"))
    return field.upper() if vendor else f"DIALER_{field.upper()}"


# ---- distributed execution: queue routes


def parse_queue_routes(text: str) -> dict[str, str]:
    """``campaign:surveys=slow, tenant:acme=acme`` -> {"campaign:surveys": "slow", ...}."""
    routes: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        key, sep, queue = (part.strip() for part in entry.partition("="))
        kind, _, name = key.partition(":")
        if not sep or kind not in {"campaign", "tenant"} or not name:
            raise ValueError(f"{entry!r}: expected campaign:NAME=QUEUE or tenant:NAME=QUEUE")
        if not re.match(QUEUE_NAME, queue):
            raise ValueError(f"{entry!r}: {queue!r} is not a valid queue name")
        routes[f"{kind}:{name}"] = queue
    return routes

"""One typed settings object, read from the environment (``DIALER_`` prefix), checked at start."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dialer.errors import InvalidInput, Problem

LEASE_MARGIN_SECONDS = 60


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIALER_", extra="ignore", frozen=True)

    database_url: str = "sqlite:///dialer.db"
    redis_url: str | None = None
    redis_namespace: str = Field(default="dialer", min_length=1, max_length=64)
    reconcile_seconds: float = Field(default=10.0, ge=1, le=3600)
    broker_url: str | None = None
    provider: Literal["twilio"] = "twilio"
    public_base_url: str | None = None
    listen: str = "127.0.0.1:8000"
    tenant: str = "default"
    global_max_concurrency: int = Field(default=10000, ge=1, le=1_000_000)
    campaign_max_concurrency: int = Field(default=100, ge=1, le=1_000_000)
    lease_ttl_seconds: int = Field(default=600, ge=30, le=86400)
    dispatch_batch_size: int = Field(default=200, ge=1, le=10000)
    tick_seconds: float = Field(default=0.05, gt=0, le=60)
    reaper_seconds: float = Field(default=5.0, gt=0, le=3600)
    max_in_flight_requests: int = Field(default=200, ge=1, le=10000)
    provider_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    number_max_attempts: int = Field(default=3, ge=1, le=1000)
    number_window_seconds: int = Field(default=86400, ge=1, le=30 * 86400)
    conversation_cooldown_seconds: int = Field(default=86400, ge=0, le=365 * 86400)

    twilio_account_sid: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID")
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN")
    )
    twilio_api_base: str = "https://api.twilio.com"

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.campaign_max_concurrency > self.global_max_concurrency:
            raise ValueError("campaign_max_concurrency cannot exceed global_max_concurrency")
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"listen must be HOST:PORT, got {self.listen!r}")
        return self

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
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "settings"
            name = field.upper() if field.startswith("TWILIO") else f"DIALER_{field.upper()}"
            problems.append(Problem(name, err["msg"].removeprefix("Value error, ")))
        raise InvalidInput(problems) from exc

"""The one settings class, read from CARDSYNC_* environment variables and an optional .env file."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HEALTH_PORTS = {"fetcher": 8081, "reconciler": 8082, "notifier": 8083}
# The scheduler serves the API (operator token) and encrypts client secrets; the fetcher decrypts them.
NEEDS_OPERATOR_TOKEN = frozenset({"scheduler"})
NEEDS_SECRET_KEY = frozenset({"scheduler", "fetcher"})
NEEDS_SMTP = frozenset({"notifier"})
MIN_SECRET_KEY_LENGTH = 16
MIN_OPERATOR_TOKEN_LENGTH = 32  # it opens every team: at least 128 bits written as hex


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARDSYNC_", env_file=".env", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/cardsync"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    authority_url: str = "https://login.microsoftonline.com"
    app_client_id: str | None = None
    app_client_secret: SecretStr | None = None

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["starttls", "tls", "none"] | None = Field(
        default=None, description="starttls, tls (implicit, usually port 465) or none; see smtp_security()"
    )
    smtp_starttls: bool = Field(default=False, description="true: starttls, unless CARDSYNC_SMTP_TLS is set")
    mail_from: str = "cards@localhost"

    api_host: str = "127.0.0.1"
    api_port: int = 8080
    health_port: int | None = Field(default=None, description="worker /healthz and /metrics port")
    public_url: str = "http://127.0.0.1:8080"
    notification_url: str | None = Field(
        default=None,
        description="where Microsoft Graph reaches the API with change notifications, when not at public_url",
    )
    operator_token: SecretStr | None = None
    secret_key: SecretStr | None = Field(default=None, description="CARDSYNC_SECRET_KEYS with one key")
    secret_key_ring: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("CARDSYNC_SECRET_KEYS", "secret_key_ring"),
        description="CARDSYNC_SECRET_KEYS: comma-separated keys, newest first (read with secret_keys())",
    )
    ca_file: str | None = None

    # Tuning; the defaults suit one machine.
    amqp_prefix: str = Field(default="cardsync", description="exchange and queue name prefix")
    prefetch: int = 16
    delivery_limit: int = 5
    db_pool_size: int = 10
    db_statement_timeout: float = Field(
        default=300.0, gt=0, description="seconds a database statement may run"
    )
    db_acquire_timeout: float = Field(
        default=60.0, gt=0, description="seconds to wait for a pooled connection"
    )
    publish_timeout: float = Field(default=30.0, gt=0, description="seconds to wait for the broker's confirm")
    graph_concurrency: int = Field(default=8, description="Graph requests in flight per tenant")
    graph_max_throttle_wait: float = Field(default=600.0, description="seconds of throttling a run tolerates")
    photo_slice_days: int = Field(default=7, description="every photo is re-checked within this many days")
    scheduler_interval: float = Field(default=5.0, description="seconds between due-run scans")
    run_timeout: float = Field(
        default=7200.0, gt=0, description="seconds an active run may go without progress before it is failed"
    )
    outbox_interval: float = Field(default=0.5, description="seconds between outbox relay polls")
    shutdown_grace: float = Field(
        default=30.0, ge=0, description="seconds a stopping service gives the messages in hand to finish"
    )
    notification_window: float = Field(
        default=3.0, ge=0, description="seconds a team's change notifications gather before its run is queued"
    )
    unchanged_runs_kept: int = Field(
        default=50,
        ge=1,
        description="runs that changed nothing kept whole per team; older ones counted by day",
    )
    invite_ttl_days: int = 30
    webhooks_allow_private: bool = Field(
        default=False,
        description="let webhooks go to loopback and private addresses (tests and development only)",
    )
    log_level: str = "INFO"

    def health_port_for(self, service: str) -> int:
        if service == "scheduler":
            return self.api_port
        return self.health_port or DEFAULT_HEALTH_PORTS[service]

    @field_validator("smtp_tls", mode="before")
    @classmethod
    def _smtp_tls_word(cls, value: object) -> object:
        # An empty value (`CARDSYNC_SMTP_TLS=` in a compose file) is no value; the words in any case.
        if isinstance(value, str):
            return value.strip().lower() or None
        return value

    def smtp_security(self) -> Literal["starttls", "tls", "none"]:
        """CARDSYNC_SMTP_TLS when set; else starttls when CARDSYNC_SMTP_STARTTLS is true or a username is
        set."""
        if self.smtp_tls is not None:
            return self.smtp_tls
        return "starttls" if self.smtp_starttls or self.smtp_username else "none"

    def secret_keys(self) -> list[str]:
        """The keys of the stored client secrets, newest first: CARDSYNC_SECRET_KEYS, else
        CARDSYNC_SECRET_KEY."""
        ring = _value(self.secret_key_ring)
        if ring:
            return [key.strip() for key in ring.split(",") if key.strip()]
        key = _value(self.secret_key)
        return [key] if key else []

    def secret_key_problems(self) -> list[str]:
        """Why the keys cannot protect the stored client secrets; empty when they can."""
        if _value(self.secret_key_ring) and _value(self.secret_key):
            # Either could be meant: refuse rather than silently ignore one, and lose the secrets under it.
            both = (
                "CARDSYNC_SECRET_KEY and CARDSYNC_SECRET_KEYS are both set: keep only CARDSYNC_SECRET_KEYS,"
                " listing the newest key first and every older key still in use after it"
            )
            return [both]
        keys = self.secret_keys()
        if not keys:
            unset = (
                "CARDSYNC_SECRET_KEYS is not set (nor CARDSYNC_SECRET_KEY, its one-key form): it encrypts the"
                " stored client secrets (make one with `openssl rand -hex 32`, and keep it: secrets stored "
                "under"
                " a key need that key)"
            )
            return [unset]
        name = "CARDSYNC_SECRET_KEYS" if _value(self.secret_key_ring) else "CARDSYNC_SECRET_KEY"
        return [
            f"{_nth(i, len(keys))}{name} has {len(key)} characters, too few to protect the stored client"
            f" secrets: use at least {MIN_SECRET_KEY_LENGTH} (e.g. `openssl rand -hex 32`)"
            for i, key in enumerate(keys)
            if len(key) < MIN_SECRET_KEY_LENGTH
        ]

    def startup_problems(self, services: Iterable[str]) -> list[str]:
        """Why the named services cannot start with these settings, one sentence each; empty when they can."""
        names = set(services)
        problems = []
        token = _value(self.operator_token)
        if names & NEEDS_OPERATOR_TOKEN and not token:
            problems.append(
                "CARDSYNC_OPERATOR_TOKEN is not set: the control API does not start without an operator token"
                " (make one with `openssl rand -hex 32`)"
            )
        elif names & NEEDS_OPERATOR_TOKEN and len(token) < MIN_OPERATOR_TOKEN_LENGTH:
            problems.append(
                f"CARDSYNC_OPERATOR_TOKEN has {len(token)} characters, too few for the token that opens every"
                f" team: use at least {MIN_OPERATOR_TOKEN_LENGTH} (e.g. `openssl rand -hex 32`)"
            )
        if names & NEEDS_SECRET_KEY:
            problems += self.secret_key_problems()
        if names & NEEDS_SMTP and self.smtp_username and self.smtp_security() == "none":
            problems.append(
                "CARDSYNC_SMTP_USERNAME is set but CARDSYNC_SMTP_TLS is none: the notifier does not send a "
                "password"
                " over a plain connection; set CARDSYNC_SMTP_TLS=starttls (usually port 587) or tls (usually"
                " port 465)"
            )
        return problems


def _nth(index: int, count: int) -> str:
    """Which key of a list is meant ("key 2 of 3 in "), without showing it; '' for a lone key."""
    return f"key {index + 1} of {count} in " if count > 1 else ""


def _value(secret: SecretStr | None) -> str:
    """The secret without surrounding white space; '' when it is unset."""
    return secret.get_secret_value().strip() if secret is not None else ""

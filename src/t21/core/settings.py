"""One `Settings` object: every knob of T21, read from `T21_*` variables and `.env`.

The defaults run the embedded mode (SQLite file, in-memory broker and rate limits, console email),
so a fresh checkout needs no configuration. `T21_ENV=production` refuses defaults that are only
safe on a laptop.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from t21.core.errors import ConfigError

if TYPE_CHECKING:
    from t21.platforms.settings import NetworkSettings

# Values that appear in examples and tutorials; a production secret must not be one of them.
KNOWN_WEAK_SECRETS = frozenset(
    {"changeme", "change-me", "secret", "secret-key", "dev", "development", "t21", "password"}
)
MIN_SECRET_LENGTH = 32
SECRET_FILE_NAME = "secret_key"  # noqa: S105 (a file name)
# The sandbox's Stripe signs webhooks with this published secret; production refuses it.
SANDBOX_STRIPE_WEBHOOK_SECRET = "whsec_t21_sandbox"  # noqa: S105 (public by design)
# Where `t21 serve` and `t21 sandbox` serve the sandbox unless told otherwise.
SANDBOX_PORT = 8025


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class EmailBackendName(StrEnum):
    CONSOLE = "console"
    SMTP = "smtp"
    RESEND = "resend"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Configuration of one T21 process. Field `x` is set by the variable `T21_X`."""

    model_config = SettingsConfigDict(
        env_prefix="T21_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    _networks: dict[str, NetworkSettings] = PrivateAttr(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        # Each registered network reads its own model from `T21_<NET>_…` (and the same `.env`);
        # a keyword `<net>_<field>` overrides that field, as a keyword overrides any setting.
        from t21.platforms import registry

        env_file = values.get("_env_file", self.model_config.get("env_file"))
        networks: dict[str, NetworkSettings] = {}
        problems: list[Any] = []
        for network in registry.NETWORKS:
            model = registry.settings_model(network.name)
            prefix = f"{network.name}_"
            overrides = {
                key.removeprefix(prefix): values.pop(key)
                for key in list(values)
                if key.startswith(prefix) and key.removeprefix(prefix) in model.model_fields
            }
            try:
                networks[network.name] = model(
                    _env_file=env_file, _env_prefix=network.env_prefix, **overrides
                )
            except ValidationError as exc:
                # Named as its variable is (`T21_<NET>_<FIELD>`), like any other setting.
                for error in exc.errors():
                    field, *rest = error["loc"] or ("",)
                    problems.append(error | {"loc": (f"{prefix}{field}".rstrip("_"), *rest)})
        if problems:
            try:
                super().__init__(**values)
            except ValidationError as exc:
                problems.extend(exc.errors())
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        super().__init__(**values)
        self._networks = networks

    def network(self, name: str) -> NetworkSettings:
        """The settings of network `name` (its model in `t21.platforms.<name>.settings`)."""
        try:
            return self._networks[name]
        except KeyError:
            raise LookupError(f"no social network {name!r}") from None

    def flat(self) -> dict[str, Any]:
        """Every setting by its name without the `T21_` prefix, the networks' included."""
        values = self.model_dump()
        for name, settings in self._networks.items():
            values |= {f"{name}_{key}": value for key, value in settings.model_dump().items()}
        return values

    def flat_given(self) -> set[str]:
        """The names (as `flat` has them) whose value was given (environment, `.env`, or an
        argument), not left to its default."""
        given = set(self.model_fields_set)
        for name, settings in self._networks.items():
            given |= {f"{name}_{key}" for key in settings.model_fields_set}
        return given

    # --- the process -------------------------------------------------------------------------
    env: Environment = Environment.DEVELOPMENT
    secret_key: SecretStr | None = None
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = None
    frontend_url: str | None = None
    forwarded_allow_ips: str = "127.0.0.1"

    # --- identity -------------------------------------------------------------------------------
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    access_token_ttl_s: int = Field(default=900, ge=60)
    refresh_token_ttl_s: int = Field(default=7 * 24 * 3600, ge=300)
    email_verification_ttl_s: int = Field(default=3 * 24 * 3600, ge=300)
    password_reset_ttl_s: int = Field(default=3600, ge=300)
    invitation_ttl_s: int = Field(default=7 * 24 * 3600, ge=300)
    oauth_state_ttl_s: int = Field(default=600, ge=60)
    login_code_ttl_s: int = Field(default=120, ge=10)
    # Password sign-in attempts (see t21.identity.throttle): per account from one IP, per
    # account from all IPs, and per IP over all accounts; registrations per IP.
    login_failures_per_account_ip: str = "5/15 minutes"
    login_failures_per_account: str = "20/15 minutes"
    login_failures_per_ip: str = "50/15 minutes"
    registrations_per_ip: str = "10/hour"
    # Two-factor sign-in: how long the second step waits for a code, and how many wrong codes
    # end it (the sign-in throttle above counts them too).
    two_factor_challenge_ttl_s: int = Field(default=300, ge=30)
    two_factor_max_failures: int = Field(default=5, ge=1)
    rate_limit_auth_per_ip: str = "60/minute"
    # Passkeys (WebAuthn): the relying party's id (a host name; default: the front end's) and the
    # origins a ceremony may come from (default: the front end's), and how long a challenge lives.
    webauthn_rp_id: str | None = None
    webauthn_rp_name: str = "T21"
    webauthn_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webauthn_challenge_ttl_s: int = Field(default=300, ge=30, le=600)
    oauth_redirect_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_discovery_url: str | None = None
    github_client_id: str | None = None
    github_client_secret: SecretStr | None = None
    github_auth_base: str | None = None
    github_api_base: str | None = None

    # --- social networks ------------------------------------------------------------------------
    # Each network's own settings (client id, secret, base URLs, scopes) are its model in
    # `t21.platforms.<net>.settings`, read from `T21_<NET>_…`: see `network()`.
    platform_timeout_s: float = Field(default=30.0, gt=0)
    platform_poll_interval_s: float = Field(default=2.0, gt=0)
    platform_poll_timeout_s: float = Field(default=120.0, gt=0)
    # Connections a process keeps to each network (`platforms.http.PlatformClients`): at most
    # this many at once, an idle one closed after this many seconds (under uvicorn's 5 s and
    # most networks' idle timeouts, so a reused connection is rarely one the server closed).
    platform_max_connections: int = Field(default=100, ge=1)
    platform_keepalive_s: float = Field(default=4.0, ge=0)
    encryption_keys: SecretStr | None = None
    # Token refresh: each access token is refreshed ahead of its expiry by this share of its
    # life, never less than `token_refresh_ahead_s` nor more than `token_refresh_ahead_max_s`
    # (X's 2-hour token 24 minutes before, a 60-day Instagram or LinkedIn token 7 days before).
    # The sweep looks for due accounts every `token_refresh_interval_s`; a refresh the network
    # couldn't answer is tried again after `token_refresh_retry_s`.
    token_refresh_fraction: float = Field(default=0.2, gt=0, lt=1)
    token_refresh_ahead_s: int = Field(default=900, ge=60)
    token_refresh_ahead_max_s: int = Field(default=7 * 86_400, ge=60)
    token_refresh_interval_s: float = Field(default=60.0, gt=0)
    token_refresh_retry_s: float = Field(default=300.0, gt=0)

    # --- publishing ----------------------------------------------------------------------------
    dispatch_interval_s: float = Field(default=1.0, gt=0)
    dispatch_batch: int = Field(default=200, ge=1, le=10_000)
    publish_lease_s: float = Field(default=600.0, ge=30)
    publish_max_attempts: int = Field(default=6, ge=1, le=50)
    publish_retry_base_s: float = Field(default=30.0, gt=0)
    publish_retry_max_s: float = Field(default=3600.0, gt=0)
    reaper_interval_s: float = Field(default=10.0, gt=0)
    queued_stale_s: float = Field(default=60.0, gt=0)
    # Targets one publish job takes at once (one claim, their requests concurrent, outcomes
    # recorded together), and how long a finished attempt waits for others to record with.
    publish_batch: int = Field(default=25, ge=1, le=500)
    publish_flush_s: float = Field(default=0.05, ge=0, le=5)

    # --- webhooks out --------------------------------------------------------------------------
    # The first retry's delay; each later one doubles (with jitter) up to `webhook_retry_max_s`.
    webhook_retry_base_s: float = Field(default=30.0, gt=0)
    webhook_retry_max_s: float = Field(default=6 * 3600.0, gt=0)
    # How long a delivery is retried, and how long an endpoint may fail without one success
    # before it is disabled and the organization's owners are emailed (at least 3 days).
    webhook_retry_window_s: float = Field(default=3 * 24 * 3600.0, gt=0)
    # An answer must come (2xx) within this long to count as delivered.
    webhook_timeout_s: float = Field(default=15.0, gt=0, le=60)
    # A claimed delivery is another worker's to take after this long (a worker died).
    webhook_lease_s: float = Field(default=60.0, ge=5)
    # Deliveries in flight to one endpoint at once: a slow endpoint holds no more workers.
    webhook_max_in_flight: int = Field(default=4, ge=1, le=100)
    webhook_dispatch_interval_s: float = Field(default=1.0, gt=0)
    webhook_dispatch_batch: int = Field(default=200, ge=1, le=10_000)
    # After a secret rotation the previous secret signs too, for this long.
    webhook_secret_grace_s: float = Field(default=24 * 3600.0, ge=0)
    # How much of a response body the delivery log keeps.
    webhook_response_excerpt_bytes: int = Field(default=1024, ge=0, le=65_536)

    # --- analytics -----------------------------------------------------------------------------
    analytics_interval_s: float = Field(default=30.0, gt=0)
    analytics_batch: int = Field(default=100, ge=1, le=10_000)
    # Metrics are collected until a post is this old.
    analytics_max_age_days: int = Field(default=30, ge=1, le=3650)

    # --- billing -------------------------------------------------------------------------------
    # Overrides of the plans' limits: {"tier": {"limit": number}} (see t21.billing.plans).
    plan_limits: dict[str, dict[str, int]] | None = None
    # Stripe; without a key (outside production) the sandbox's fake Stripe answers, and in
    # production the billing endpoints answer 503 until it is set.
    stripe_api_key: SecretStr | None = None
    # Unset: https://api.stripe.com with a key, else the sandbox's fake.
    stripe_api_base: Annotated[str | None, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")] = None
    # Every secret a webhook signature may be made with: several while one replaces another.
    stripe_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # The monthly prices that Checkout sells for each paid tier.
    stripe_price_pro: str | None = None
    stripe_price_business: str | None = None

    @field_validator("stripe_webhook_secrets", mode="before")
    @classmethod
    def _parse_webhook_secrets(cls, value: Any) -> Any:
        return _split_csv(value)

    # --- AI ------------------------------------------------------------------------------------
    # OpenRouter; without a key (outside production) the sandbox's fake answers.
    openrouter_api_key: SecretStr | None = None
    openrouter_api_base: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")] = (
        "https://openrouter.ai/api/v1"
    )
    openrouter_timeout_s: float = Field(default=60.0, gt=0)
    # The model used when a request names none (the first small model for Free organizations
    # when this isn't one of them).
    ai_default_model: str = "openai/gpt-4o-mini"
    # The small, fast models every tier may use (Free: only these).
    ai_small_models: Annotated[list[str], NoDecode] = Field(
        min_length=1,
        default_factory=lambda: [
            "openai/gpt-4o-mini",
            "google/gemini-2.0-flash-001",
            "meta-llama/llama-3.1-8b-instruct",
        ],
    )
    # What paid tiers may pick besides the small models; empty: any model OpenRouter offers.
    ai_models: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("ai_small_models", "ai_models", mode="before")
    @classmethod
    def _parse_model_lists(cls, value: Any) -> Any:
        return _split_csv(value)

    # --- sandbox --------------------------------------------------------------------------------
    sandbox: Literal["auto", "on", "off"] = "auto"
    sandbox_url: str | None = None
    # Unset: 8025 (as `t21 sandbox`), so the sandbox's address survives a restart; 0 = any
    # free port. A port in use falls back to a free one (logged).
    sandbox_port: int | None = Field(default=None, ge=0, le=65535)
    # The fakes' world (tokens, users, Stripe customers...) survives restarts in this file.
    # Unset: `sandbox-state.pickle` in T21_DATA_DIR, beside T21's database.
    sandbox_state_file: Path | None = None
    # Whether the fake networks' published posts gather plausible numbers as time passes, so
    # analytics show something minutes after publishing (`t21 analytics collect` collects now).
    sandbox_grow_metrics: bool = True
    # Whether the fake networks refuse a post identical to one the account already has, as the
    # real ones do. Off, a second send of the same post is accepted and shows in the fakes'
    # send records (`GET /<fake>/_control/sends`): the chaos test runs so. Each run can also
    # switch it with `POST /<fake>/_control/duplicates`.
    sandbox_refuse_duplicates: bool = True

    # --- database ------------------------------------------------------------------------------
    database_url: str | None = None
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout_s: float = Field(default=30.0, gt=0)
    database_pool_recycle_s: int = Field(default=1800, ge=-1)
    # A ping (a round trip) before each checkout of a pooled PostgreSQL connection. Off: asyncpg
    # notices a connection the server closed, the pool replaces it, and a connection lost
    # mid-request answers 503 (`core.db.database_unavailable`); recycling retires old ones.
    # Turn on behind a proxy that drops idle connections silently.
    database_pool_pre_ping: bool = False
    database_echo: bool = False
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)

    # --- jobs ----------------------------------------------------------------------------------
    redis_url: str | None = None
    redis_prefix: str = Field(default="t21", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    broker_idle_timeout_s: int = Field(default=600, ge=1)
    broker_lock_timeout_s: float = Field(default=30.0, gt=0)
    # A worker's job consumer survives broker faults (flush, restart, timeouts): it retries with
    # backoff doubling up to `broker_retry_max_s`, claims back messages pending longer than the
    # idle timeout every `broker_claim_interval_s` and trims what the group is done with from
    # the stream every `broker_trim_interval_s`. `/health` answers 503 once the consumer has
    # been unable to read the broker for `broker_down_limit_s`, so an orchestrator restarts it.
    broker_retry_max_s: float = Field(default=5.0, gt=0, le=300)
    broker_claim_interval_s: float = Field(default=15.0, gt=0)
    broker_trim_interval_s: float = Field(default=30.0, gt=0)
    broker_down_limit_s: float = Field(default=180.0, gt=0)
    worker_concurrency: int = Field(default=50, ge=1)
    shutdown_grace_s: float = Field(default=20.0, ge=0)

    # --- HTTP ----------------------------------------------------------------------------------
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_request_bytes: int = Field(default=1_048_576, ge=1)
    rate_limit_enabled: bool = True
    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_principal: str = "1200/minute"
    # How long a resolved principal (user or API key, memberships, roles) is reused without
    # asking the database: the longest a revocation another process missed (Redis down) can
    # take to be seen. Every change is otherwise applied at its commit. 0 turns the cache off.
    principal_cache_ttl_s: float = Field(default=5.0, ge=0, le=60)
    metrics_token: SecretStr | None = None

    # --- hardening ------------------------------------------------------------------------------
    # Serve the interactive docs (/docs) and the OpenAPI document (/openapi.json); turn off to
    # keep the API's map private (the contract is in API.md either way).
    api_docs: bool = True
    # The most pixels (width x height) an uploaded image may have: checked from its header
    # before anything is decoded, 422 above it. The default is the largest any network accepts
    # (LinkedIn: fewer than 36,152,320).
    media_max_image_pixels: int = Field(default=36_152_319, ge=1)

    # --- logs ----------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # --- traces (OpenTelemetry; off unless an endpoint is set) ---------------------------------
    # The OTLP/HTTP collector, e.g. http://otel-collector:4318 (traces go to /v1/traces).
    otel_endpoint: str | None = None
    otel_service_name: str = "t21"
    otel_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)

    # --- media ---------------------------------------------------------------------------------
    media_dir: Path | None = None
    # Unset: files in `media_dir`. `s3://bucket[/prefix]`: S3-compatible object storage.
    storage_url: str | None = None
    storage_endpoint: str | None = None
    storage_region: str | None = None
    storage_access_key_id: str | None = None
    storage_secret_access_key: SecretStr | None = None
    media_max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    media_url_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    media_cleanup_interval_s: float = Field(default=300.0, gt=0)

    # --- bulk import, export and actions --------------------------------------------------------
    # The largest file `POST /posts/import` takes (413 above it) and the most rows in it (422).
    import_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    import_max_rows: int = Field(default=10_000, ge=1)
    # The most posts one `POST /posts/bulk` may touch, by ids or by filter (422 above it).
    bulk_max_posts: int = Field(default=1_000, ge=1)

    # --- email ---------------------------------------------------------------------------------
    email_backend: EmailBackendName = EmailBackendName.CONSOLE
    email_from: str = "T21 <no-reply@t21.localhost>"
    email_max_attempts: int = Field(default=8, ge=1)
    email_retry_base_s: float = Field(default=30.0, gt=0)
    email_retry_max_s: float = Field(default=3600.0, gt=0)
    email_lease_s: float = Field(default=300.0, gt=0)
    email_outbox_interval_s: float = Field(default=5.0, gt=0)
    mail_dir: Path | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_tls: bool = False
    smtp_ca_file: Path | None = None
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    resend_api_key: SecretStr | None = None
    resend_api_base: str = "https://api.resend.com"
    resend_timeout_s: float = Field(default=15.0, gt=0)

    # --- audit log -----------------------------------------------------------------------------
    # How long an organization's audit entries are kept (days).
    audit_retention_days: int = Field(default=400, ge=1)

    # --- events (the live stream) --------------------------------------------------------------
    # A comment line on an idle stream this often, so proxies and clients know it is alive.
    events_heartbeat_s: float = Field(default=15.0, gt=0)
    # A stream reads the event table at least this often even without a wake-up (a wake-up lost
    # with Redis down costs this much delay, never an event).
    events_poll_s: float = Field(default=5.0, gt=0)
    # Each read looks back this far for events committed late (their transaction began before
    # the last one sent): longer than any transaction that records an event.
    events_lookback_s: float = Field(default=10.0, ge=0)

    @field_validator(
        "cors_origins",
        "previous_secret_keys",
        "oauth_redirect_allowlist",
        "webauthn_origins",
        mode="before",
    )
    @classmethod
    def _parse_lists(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("plan_limits")
    @classmethod
    def _check_plan_limits(
        cls, value: dict[str, dict[str, int]] | None
    ) -> dict[str, dict[str, int]] | None:
        tiers = ("free", "pro", "business")
        limits = ("brands", "social_accounts", "published_posts", "ai_credits", "seats")
        for tier, values in (value or {}).items():
            if tier not in tiers:
                raise ValueError(f"unknown tier {tier!r} (one of {', '.join(tiers)})")
            for name, number in values.items():
                if name not in limits:
                    raise ValueError(f"unknown limit {name!r} (one of {', '.join(limits)})")
                if number < 0:
                    raise ValueError(f"{tier}.{name} can't be negative")
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _check_encryption_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        from t21.core.crypto import parse_keys

        try:
            parse_keys(value.get_secret_value())
        except ConfigError as exc:
            raise ValueError("; ".join(p.split(": ", 1)[-1] for p in exc.problems)) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return normalise_database_url(value.strip())

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("must be s3://bucket or s3://bucket/prefix (unset: a local folder)")
        return value.strip().rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        scheme = urlsplit(value).scheme
        if scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(f"must start with redis://, rediss:// or unix:// (got {scheme!r})")
        return value.strip()

    @field_validator(
        "public_url",
        "frontend_url",
        "resend_api_base",
        "google_discovery_url",
        "github_auth_base",
        "github_api_base",
        "sandbox_url",
        "storage_endpoint",
    )
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value.strip().rstrip("/")

    @field_validator(
        "rate_limit_per_ip",
        "rate_limit_per_principal",
        "rate_limit_auth_per_ip",
        "login_failures_per_account_ip",
        "login_failures_per_account",
        "login_failures_per_ip",
        "registrations_per_ip",
    )
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '600/minute' ({exc})") from exc
        return value

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            problems = production_problems(self)
            if problems:
                raise ValueError(
                    "T21_ENV=production refuses to start: " + "; ".join(problems),
                )
        if self.smtp_tls and self.smtp_starttls:
            # Implicit TLS and STARTTLS are exclusive; implicit TLS wins when asked for.
            self.smtp_starttls = False
        return self

    # --- derived values -------------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 't21.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_sandbox_port(self) -> int:
        """The port `t21 serve` starts the sandbox on (0: any free one)."""
        if self.sandbox_port is not None:
            return self.sandbox_port
        return SANDBOX_PORT if self.port != 0 else 0

    @property
    def resolved_sandbox_state_file(self) -> Path:
        if self.sandbox_state_file is not None:
            return self.sandbox_state_file
        return self.data_dir / "sandbox-state.pickle"

    @property
    def resolved_mail_dir(self) -> Path:
        return self.mail_dir if self.mail_dir is not None else self.data_dir / "mail"

    @property
    def resolved_media_dir(self) -> Path:
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

    @property
    def resolved_public_url(self) -> str:
        if self.public_url is not None:
            return self.public_url
        return f"http://{self.host}:{self.port}"

    @property
    def resolved_frontend_url(self) -> str:
        return self.frontend_url if self.frontend_url is not None else self.resolved_public_url

    @property
    def resolved_webauthn_rp_id(self) -> str:
        """The WebAuthn relying party id: set, or the front end's host name."""
        return self.webauthn_rp_id or (urlsplit(self.resolved_frontend_url).hostname or "localhost")

    @property
    def resolved_webauthn_origins(self) -> list[str]:
        """Where passkey ceremonies may run: set, or the front end's origin."""
        if self.webauthn_origins:
            return [origin.rstrip("/") for origin in self.webauthn_origins]
        parts = urlsplit(self.resolved_frontend_url)
        return [f"{parts.scheme}://{parts.netloc}"]

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def sandbox_enabled(self) -> bool:
        """Whether outside services without real credentials are served by the local sandbox."""
        if self.sandbox == "auto":
            return not self.is_production
        return self.sandbox == "on"

    def secret(self) -> str:
        """The signing secret: the configured one, else one generated once into the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _generated_secret(self.data_dir.resolve())


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL or SQLite URL and pick the async driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must be a URL such as postgresql://user@host/db or sqlite:///var/t21.db")
    base = scheme.split("+", 1)[0]
    if base in {"postgres", "postgresql"}:
        return f"postgresql+asyncpg://{rest}"
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError(f"unsupported database {scheme!r}: use postgresql:// or sqlite:///")


def production_problems(settings: Settings) -> list[str]:
    """What stops `settings` from being safe in production, one sentence each."""
    problems: list[str] = []
    if settings.secret_key is None:
        problems.append(
            f"T21_SECRET_KEY is not set (a generated secret is for development only; "
            f"set at least {MIN_SECRET_LENGTH} random characters)"
        )
    else:
        value = settings.secret_key.get_secret_value()
        if value.lower() in KNOWN_WEAK_SECRETS or len(value) < MIN_SECRET_LENGTH:
            problems.append(
                f"T21_SECRET_KEY is a default or too short (at least {MIN_SECRET_LENGTH} "
                "random characters)"
            )
    if settings.is_sqlite:
        problems.append("T21_DATABASE_URL is SQLite (production needs PostgreSQL)")
    if settings.encryption_keys is None:
        problems.append(
            "T21_ENCRYPTION_KEYS is not set (social accounts' tokens are encrypted with it; "
            "generate one with `t21 new-encryption-key`)"
        )
    if settings.sandbox == "on":
        problems.append("T21_SANDBOX is on (the sandbox fakes outside services: not in production)")
    if settings.metrics_token is None or not settings.metrics_token.get_secret_value():
        problems.append(
            "T21_METRICS_TOKEN is not set (GET /metrics would be open to anyone; set a random "
            "bearer token for the scraper)"
        )
    secrets_ = {secret.get_secret_value() for secret in settings.stripe_webhook_secrets}
    if SANDBOX_STRIPE_WEBHOOK_SECRET in secrets_:
        problems.append(
            "T21_STRIPE_WEBHOOK_SECRETS holds the sandbox's public secret (anyone could sign "
            "webhooks with it; use the endpoint's signing secret from Stripe's dashboard)"
        )
    if settings.email_backend is EmailBackendName.CONSOLE:
        problems.append("T21_EMAIL_BACKEND is console (production needs smtp or resend)")
    if settings.email_backend is EmailBackendName.SMTP and not settings.smtp_host:
        problems.append("T21_SMTP_HOST is not set while T21_EMAIL_BACKEND=smtp")
    if settings.email_backend is EmailBackendName.RESEND and settings.resend_api_key is None:
        problems.append("T21_RESEND_API_KEY is not set while T21_EMAIL_BACKEND=resend")
    return problems


def _generated_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE_NAME
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # Created with owner-only permissions; a concurrent creator wins and we read its value.
    try:
        with path.open("x", encoding="utf-8") as handle:
            path.chmod(0o600)
            handle.write(value)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    return value


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; a validation failure becomes a `ConfigError` naming the setting."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            name = f"T21_{loc[0].upper()}" if loc else "configuration"
            message = error["msg"].removeprefix("Value error, ")
            value = error.get("input")
            shown = "" if not loc or _is_secret_field(loc[0]) else f" (got {value!r})"
            lines.append(f"{name}: {message}{shown}" if loc else message)
        raise ConfigError(lines) from None


def _is_secret_field(name: str) -> bool:
    return any(part in name for part in ("secret", "password", "key", "token", "url"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()

"""The `Settings` class: every domain's fields (one model per domain, in this package) read
together from `T21_*` variables and `.env`, checked across domains, and the values derived."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import (
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from t21.core.errors import ConfigError
from t21.core.settings.ai import AiSettings
from t21.core.settings.billing import BillingSettings
from t21.core.settings.database import DatabaseSettings
from t21.core.settings.events import AuditSettings, EventSettings
from t21.core.settings.identity import IdentitySettings
from t21.core.settings.jobs import JobSettings
from t21.core.settings.mail import EmailSettings
from t21.core.settings.media import MediaSettings
from t21.core.settings.networks import SocialNetworkSettings
from t21.core.settings.process import (
    Environment,
    HttpSettings,
    ObservabilitySettings,
    ProcessSettings,
)
from t21.core.settings.production import production_problems
from t21.core.settings.publishing import AnalyticsSettings, PublishingSettings
from t21.core.settings.sandbox import SANDBOX_PORT, SandboxSettings
from t21.core.settings.secret_file import generated_secret
from t21.core.settings.sources import cached_sources
from t21.core.settings.values import normalise_database_url, split_csv
from t21.core.settings.webhooks import WebhookSettings

if TYPE_CHECKING:
    from t21.platforms.settings import NetworkSettings


# The domains' fields, last first: pydantic orders fields from the last base, and `t21 config`
# lists them in that order (the process's first).
class Settings(
    EventSettings,
    AuditSettings,
    EmailSettings,
    MediaSettings,
    ObservabilitySettings,
    HttpSettings,
    JobSettings,
    DatabaseSettings,
    SandboxSettings,
    AiSettings,
    BillingSettings,
    AnalyticsSettings,
    WebhookSettings,
    PublishingSettings,
    SocialNetworkSettings,
    IdentitySettings,
    ProcessSettings,
    BaseSettings,
):
    """Configuration of one T21 process. Field `x` is set by the variable `T21_X`."""

    model_config = SettingsConfigDict(
        env_prefix="T21_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    _networks: dict[str, NetworkSettings] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The same sources, each field's analysis done once per model (`sources`).
        return cached_sources(
            settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )

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

    @field_validator(
        "cors_origins",
        "previous_secret_keys",
        "oauth_redirect_allowlist",
        "webauthn_origins",
        mode="before",
    )
    @classmethod
    def _parse_lists(cls, value: Any) -> Any:
        return split_csv(value)

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
        return generated_secret(self.data_dir.resolve())

"""What production refuses: default secrets, SQLite, the sandbox, an open /metrics..."""

from __future__ import annotations

from typing import TYPE_CHECKING

from t21.core.settings.mail import EmailBackendName

if TYPE_CHECKING:
    from t21.core.settings.base import Settings

# Values that appear in examples and tutorials; a production secret must not be one of them.
KNOWN_WEAK_SECRETS = frozenset(
    {"changeme", "change-me", "secret", "secret-key", "dev", "development", "t21", "password"}
)
MIN_SECRET_LENGTH = 32
# The sandbox's Stripe signs webhooks with this published secret; production refuses it.
SANDBOX_STRIPE_WEBHOOK_SECRET = "whsec_t21_sandbox"  # noqa: S105 (public by design)


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

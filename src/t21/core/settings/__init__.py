"""One `Settings` object: every knob of T21, read from `T21_*` variables and `.env`.

The defaults run the embedded mode (SQLite file, in-memory broker and rate limits, console email),
so a fresh checkout needs no configuration. `T21_ENV=production` refuses defaults that are only
safe on a laptop.

Each domain's fields are a model of their own in this package (`identity.py`, `webhooks.py`, ...,
in the order `t21 config` lists them); `base.Settings` joins them and checks what spans domains.
A new setting goes in its domain's module.
"""

from functools import lru_cache
from typing import Any

from t21.core.errors import ConfigError
from t21.core.settings.base import Settings
from t21.core.settings.mail import EmailBackendName
from t21.core.settings.process import Environment
from t21.core.settings.production import (
    KNOWN_WEAK_SECRETS,
    MIN_SECRET_LENGTH,
    SANDBOX_STRIPE_WEBHOOK_SECRET,
    production_problems,
)
from t21.core.settings.sandbox import SANDBOX_PORT
from t21.core.settings.secret_file import SECRET_FILE_NAME
from t21.core.settings.values import normalise_database_url

__all__ = [
    "KNOWN_WEAK_SECRETS",
    "MIN_SECRET_LENGTH",
    "SANDBOX_PORT",
    "SANDBOX_STRIPE_WEBHOOK_SECRET",
    "SECRET_FILE_NAME",
    "EmailBackendName",
    "Environment",
    "Settings",
    "get_settings",
    "load_settings",
    "normalise_database_url",
    "production_problems",
]


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

"""The settings every network has, read from `T21_<NETWORK>_…` variables and `.env`.

Each network subclasses `NetworkSettings` in its own `settings.py`, giving the real addresses of
its authorization and API hosts and adding what else it needs (an upload host, scopes). The
registry names the model; `Settings` reads one of each, so a new network adds no field to
`core/settings/`.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from t21.core.settings.sources import cached_sources


def http_url(value: str | None) -> str | None:
    """An absolute http(s) URL without its trailing slash; None when empty."""
    if value is None or not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value.strip().rstrip("/")


class NetworkSettings(BaseSettings):
    """T21's app at one network. Field `x` of network `net` is set by `T21_NET_X`.

    Without a client id (and outside production) the sandbox's fake of the network is used; the
    base URLs, unset, are the real network's (`real_*`), else they point at a fake or a proxy.
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True
    )

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

    # Where the real network lives; `upload` only for networks with their own upload host.
    real_auth_base: ClassVar[str]
    real_api_base: ClassVar[str]
    real_upload_base: ClassVar[str | None] = None

    client_id: str | None = None
    client_secret: SecretStr | None = None
    auth_base: str | None = None
    api_base: str | None = None

    @field_validator("auth_base", "api_base")
    @classmethod
    def _check_base(cls, value: str | None) -> str | None:
        return http_url(value)

    @property
    def upload_override(self) -> str | None:
        """The configured upload host, for networks that have one."""
        return None

    @property
    def requested_scopes(self) -> tuple[str, ...]:
        """The OAuth scopes configured for connecting; empty: the provider's defaults."""
        return ()

    def extras(self, *, public_url: str, secret: str, sandbox: bool) -> dict[str, str]:
        """What else this network's provider needs (`PlatformConfig.extras`): T21's address
        for documents the network fetches, keys. `sandbox`: the fake is reached."""
        return {}


class UploadHost(NetworkSettings):
    """A network whose media go to a host of their own."""

    upload_base: str | None = None

    @field_validator("upload_base")
    @classmethod
    def _check_upload_base(cls, value: str | None) -> str | None:
        return http_url(value)

    @property
    def upload_override(self) -> str | None:
        return self.upload_base


class ScopedNetwork(NetworkSettings):
    """A network whose app may be granted more than a new app's scopes: `T21_<NET>_SCOPES`,
    space- or comma-separated, replaces the provider's defaults."""

    scopes: str | None = None

    @property
    def requested_scopes(self) -> tuple[str, ...]:
        return tuple((self.scopes or "").replace(",", " ").split())

"""Bluesky's settings (`T21_BLUESKY_…`): where handles are resolved and sessions start (the
entryway, `api_base`) and where `did:plc` documents are read (the PLC directory, `auth_base`).

Bluesky needs no app registration for app-password sign-in: `T21_BLUESKY_CLIENT_ID` only
switches from the sandbox's fake to the real network (any non-empty value, e.g. `t21`).

`T21_BLUESKY_OAUTH=true` adds AT Protocol OAuth (app passwords keep working): T21 serves its
client metadata document and JWKS under `/api/v1/social-accounts/oauth/bluesky/`, and signs
its client assertions with `T21_BLUESKY_OAUTH_KEY`, an ES256 private key (a JWK or PEM). With
the sandbox's fake and no key, one is derived from T21's secret."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr, field_validator

from t21.platforms.bluesky.oauth import derived_key, load_key
from t21.platforms.settings import UploadHost

OAUTH_PATH = "/api/v1/social-accounts/oauth/bluesky"


class BlueskySettings(UploadHost):
    real_auth_base: ClassVar[str] = "https://plc.directory"
    real_api_base: ClassVar[str] = "https://bsky.social"
    # The video service (`T21_BLUESKY_UPLOAD_BASE`), which processes a video before its post.
    real_upload_base: ClassVar[str | None] = "https://video.bsky.app"

    oauth: bool = False
    oauth_key: SecretStr | None = None

    @field_validator("oauth_key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            try:
                load_key(value.get_secret_value())
            except Exception as exc:  # joserfc raises its own kinds for a malformed key
                raise ValueError(f"not an ES256 private key ({type(exc).__name__})") from None
            return value
        return None

    def extras(self, *, public_url: str, secret: str, sandbox: bool) -> dict[str, str]:
        if not self.oauth:
            return {}
        key = self.oauth_key.get_secret_value() if self.oauth_key else None
        if key is None and sandbox:
            key = derived_key(secret)
        if key is None:
            return {}
        return {
            "oauth_client_id": f"{public_url}{OAUTH_PATH}/client-metadata.json",
            "oauth_jwks_uri": f"{public_url}{OAUTH_PATH}/jwks.json",
            "oauth_key": key,
        }

"""Who may sign in and how: tokens' lives, sign-in throttles, two-factor, passkeys, OAuth."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import NoDecode


class IdentitySettings(BaseModel):
    """Accounts, sessions and sign-in."""

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

"""Reaching the social networks: timeouts, connections, token encryption and refresh."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class SocialNetworkSettings(BaseModel):
    """What every network shares (each network's own model: `Settings.network`)."""

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

"""Connected social accounts, and connection attempts in progress.

Tokens are stored only encrypted (`core.crypto`), each ciphertext bound to its account and field.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from t21.core.models import RecordModel, enum_column


class AccountStatus(StrEnum):
    ACTIVE = "active"
    REAUTH_REQUIRED = "reauth_required"  # the network refused our tokens; a person must reconnect
    DISCONNECTED = "disconnected"


class SocialAccount(RecordModel):
    __tablename__ = "social_accounts"
    __table_args__ = (
        UniqueConstraint("brand_id", "platform", "external_id"),
        Index("ix_social_accounts_status_token_expires_at", "status", "token_expires_at"),
        Index("ix_social_accounts_status_refresh_due_at", "status", "refresh_due_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    avatar_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[AccountStatus] = mapped_column(
        enum_column(AccountStatus, "social_account_status"), default=AccountStatus.ACTIVE
    )
    access_token_encrypted: Mapped[str] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None]
    refresh_expires_at: Mapped[datetime | None]
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    connected_at: Mapped[datetime]
    last_refreshed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # One refresh at a time: a worker claims the account until this moment.
    refresh_claimed_until: Mapped[datetime | None]
    # The admins were emailed that it needs reconnecting (once per disconnection).
    reauth_notified_at: Mapped[datetime | None]
    # When to refresh the access token: ahead of its expiry by a share of its life
    # (`social.tokens.refresh_margin`); when it can't be refreshed, its expiry.
    refresh_due_at: Mapped[datetime | None]
    # The owners were emailed that the token will die and can't be refreshed (once per token).
    expiry_warned_at: Mapped[datetime | None]
    # Why the network's numbers aren't collected for this account (a permission it lacks).
    metrics_unavailable: Mapped[str | None] = mapped_column(Text)
    # The network asked us to wait (a 429 and its reset): nothing is published before then.
    rate_limited_until: Mapped[datetime | None]
    # What the account may do at its network, as the network last said (TikTok's allowed
    # privacy levels); read by validation. Null when the network says nothing of the kind.
    capabilities: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The private key the tokens are bound to (DPoP: Bluesky through OAuth), encrypted.
    dpop_key_encrypted: Mapped[str | None] = mapped_column(Text)


class ConnectAttempt(RecordModel):
    """A connection started by a person for a brand: its state is signed, used once, short-lived."""

    __tablename__ = "social_connect_attempts"

    state_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    code_verifier: Mapped[str | None] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    # The digest of the cookie set on the browser that started it (see `social.connect`).
    browser_digest: Mapped[str | None] = mapped_column(String(64))
    # A callback without that cookie parks the network's code here (encrypted) until the person
    # who started the connection completes it with the one-time code of this digest.
    completion_digest: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    network_code_encrypted: Mapped[str | None] = mapped_column(Text)
    # The server the account lives on, for networks whose connection names one (Mastodon).
    instance: Mapped[str | None] = mapped_column(String(255))
    # What a sign-in pushed to the network first leaves for its callback (the authorization
    # server, the DPoP key the code is bound to), as JSON, encrypted.
    handoff_encrypted: Mapped[str | None] = mapped_column(Text)


class InstanceAppRecord(RecordModel):
    """T21's app on one server of a network with many (Mastodon), registered there once."""

    __tablename__ = "social_instance_apps"
    __table_args__ = (UniqueConstraint("platform", "instance"),)

    platform: Mapped[str] = mapped_column(String(32))
    instance: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(Text)
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    pkce: Mapped[bool]

"""What the social-account endpoints take and give (never a token)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from t21.social.models import AccountStatus, SocialAccount


class ConnectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    brand_id: uuid.UUID
    platform: Annotated[str, Field(min_length=1, max_length=32)]
    redirect_uri: Annotated[str, Field(max_length=2048)] | None = None
    # For networks that connect without a redirect (e.g. a handle and an app password): what
    # they take is each network's own to check.
    credentials: (
        Annotated[dict[str, Annotated[str, Field(max_length=1024)]], Field(max_length=8)] | None
    ) = None
    # The account's server, for networks on many servers (Mastodon): its host name.
    instance: Annotated[str, Field(min_length=1, max_length=255)] | None = None


class ConnectCompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, Field(min_length=1, max_length=128, description="The `connect_code`.")]


class ConnectOut(BaseModel):
    authorization_url: str


class SocialAccountOut(BaseModel):
    id: uuid.UUID
    brand_id: uuid.UUID
    platform: str
    external_id: str
    username: str | None
    display_name: str | None
    avatar_url: str | None
    status: AccountStatus
    token_expires_at: datetime | None
    connected_at: datetime
    last_error: str | None

    @classmethod
    def of(cls, account: SocialAccount) -> SocialAccountOut:
        return cls(
            id=account.id,
            brand_id=account.brand_id,
            platform=account.platform,
            external_id=account.external_id,
            username=account.username,
            display_name=account.display_name,
            avatar_url=account.avatar_url,
            status=account.status,
            token_expires_at=account.token_expires_at,
            connected_at=account.connected_at,
            last_error=account.last_error,
        )


class SocialAccountList(BaseModel):
    items: list[SocialAccountOut]
    next_cursor: str | None = None


class MediaRuleOut(BaseModel):
    content_types: list[str]
    max_size_bytes: int
    min_aspect: float | None
    max_aspect: float | None
    min_duration_s: float | None
    max_duration_s: float | None


class PlatformOut(BaseModel):
    name: str
    display_name: str
    available: bool = Field(description="Whether accounts can be connected on this server.")
    max_text: int
    text_counting: str
    requires_media: bool
    max_images: int
    max_videos: int
    mixed_media: bool
    min_multi_images: int
    image: MediaRuleOut | None
    video: MediaRuleOut | None
    options: dict[str, Any] = Field(description="JSON Schema of the per-post options.")
    supports_threads: bool = Field(
        default=False, description="Whether a target may carry a `thread` (a reply chain)."
    )
    supports_first_comment: bool = Field(
        default=False, description="Whether a target may carry `options.first_comment`."
    )
    max_comment: int | None = Field(
        default=None, description="The longest first comment, where one is allowed."
    )


class PlatformList(BaseModel):
    items: list[PlatformOut]


class ChoiceOut(BaseModel):
    id: str
    name: str


class ChoiceList(BaseModel):
    items: list[ChoiceOut]

"""What a TikTok post may be (limits) and the per-post options T21 offers for it."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from t21.platforms.base import MediaRule, PlatformLimits, TextCounting

MIB = 1024 * 1024

LIMITS = PlatformLimits(
    # Video title 2200 [docs direct post]; T21's text becomes a photo post's description
    # (≤ 4000), so 2200 holds for both.
    max_text=2200,
    text_counting=TextCounting.CHARACTERS,
    requires_media=True,  # there is no text-only post on TikTok
    max_images=35,  # photo_images ≤ 35 [docs photo post]
    max_videos=1,
    mixed_media=False,  # a post is one video or photos, never both
    # JPEG/WebP only (no PNG), ≤ 20 MB [3p]; photos are pulled from URLs.
    image=MediaRule(content_types=frozenset({"image/jpeg", "image/webp"}), max_size_bytes=20 * MIB),
    # MP4/MOV/WebM ≤ 4 GB [docs media transfer]; 3 s up to the creator's
    # max_video_post_duration_sec (often 10 min), sides 360–4096 px [3p].
    video=MediaRule(
        content_types=frozenset({"video/mp4", "video/quicktime", "video/webm"}),
        max_size_bytes=4 * 1024 * MIB,
        min_duration_s=3,
        max_duration_s=600,
        min_width=360,
        max_width=4096,
    ),
    notes=(
        "Photo posts: the text is the description (≤ 4000); an optional photo_title ≤ 90.",
        "The longest video is the creator's own max_video_post_duration_sec, checked at "
        "publish time.",
        "The privacy level must be one the creator offers; unaudited apps may post SELF_ONLY only.",
        "6 posts per minute per account; a daily cap per creator (about 15, unconfirmed).",
    ),
)


class PrivacyLevel(StrEnum):
    PUBLIC_TO_EVERYONE = "PUBLIC_TO_EVERYONE"
    MUTUAL_FOLLOW_FRIENDS = "MUTUAL_FOLLOW_FRIENDS"
    FOLLOWER_OF_CREATOR = "FOLLOWER_OF_CREATOR"
    SELF_ONLY = "SELF_ONLY"


class TikTokOptions(BaseModel):
    """Per-post options of a TikTok direct post. The privacy level must also be one the
    creator's account offers (checked against creator_info when publishing)."""

    model_config = ConfigDict(extra="forbid")

    privacy_level: PrivacyLevel = PrivacyLevel.PUBLIC_TO_EVERYONE
    disable_comment: bool = False
    disable_duet: bool = False  # videos only
    disable_stitch: bool = False  # videos only
    video_cover_timestamp_ms: int | None = Field(default=None, ge=0)
    brand_content_toggle: bool = False  # paid partnership ("Branded content")
    brand_organic_toggle: bool = False  # promoting the creator's own business
    is_aigc: bool = False  # AI-generated content label, videos only
    auto_add_music: bool = False  # photos only
    photo_title: str | None = Field(default=None, max_length=90)
    # Videos: "upload" sends the file in chunks; "url" has TikTok pull the media URL, whose
    # domain must be verified for T21's app (else url_ownership_unverified). Photos are
    # always pulled from their URLs.
    source: Literal["upload", "url"] = "upload"

    @model_validator(mode="after")
    def _branded_content_is_not_private(self) -> TikTokOptions:
        # TikTok's content-sharing UX guidelines: branded content can't be "only me".
        if self.brand_content_toggle and self.privacy_level is PrivacyLevel.SELF_ONLY:
            raise ValueError("Branded content can't be posted with privacy SELF_ONLY.")
        return self

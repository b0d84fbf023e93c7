"""What a TikTok post may be (limits) and the per-post options T21 offers for it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from t21.core.outside import Permanent
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


# From the most public to the most private: a post without a privacy level gets the first one
# the account may use.
MOST_PUBLIC_FIRST = (
    PrivacyLevel.PUBLIC_TO_EVERYONE,
    PrivacyLevel.FOLLOWER_OF_CREATOR,
    PrivacyLevel.MUTUAL_FOLLOW_FRIENDS,
    PrivacyLevel.SELF_ONLY,
)
# The account capability T21 keeps from creator_info.
PRIVACY_OPTIONS = "privacy_level_options"


class TikTokOptions(BaseModel):
    """Per-post options of a TikTok direct post. `privacy_level` must be one the creator's
    account offers (creator_info's privacy_level_options: only SELF_ONLY until TikTok audits
    T21's app); left out, the most public one offered is used."""

    model_config = ConfigDict(extra="forbid")

    privacy_level: PrivacyLevel | None = None
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


def offered_levels(capabilities: dict[str, Any]) -> list[PrivacyLevel] | None:
    """The privacy levels the account may post with, as TikTok last said; None when unknown."""
    raw = capabilities.get(PRIVACY_OPTIONS)
    if not isinstance(raw, list):
        return None
    return [level for level in MOST_PUBLIC_FIRST if level.value in {str(v) for v in raw}]


def privacy_for(options: TikTokOptions, offered: list[PrivacyLevel] | None) -> PrivacyLevel:
    """The privacy level a post goes out with: the one asked for, which the account must offer,
    else the most public one it offers. `Permanent` naming the rule when it can't be used."""
    if offered is not None and not offered:
        raise Permanent(
            "This TikTok account offers no privacy level to post with.",
            code="privacy_level_not_allowed",
        )
    level = options.privacy_level or (offered[0] if offered else PrivacyLevel.PUBLIC_TO_EVERYONE)
    if offered is not None and level not in offered:
        names = ", ".join(item.value for item in offered)
        unaudited = offered == [PrivacyLevel.SELF_ONLY]
        why = (
            "TikTok lets an app it hasn't audited yet post only privately (SELF_ONLY)"
            if unaudited
            else f"this account may post only with {names}"
        )
        raise Permanent(
            f"TikTok privacy {level.value} can't be used: {why}.",
            code="privacy_level_not_allowed",
        )
    if options.brand_content_toggle and level is PrivacyLevel.SELF_ONLY:
        raise Permanent(
            "Branded content can't be posted with privacy SELF_ONLY, the only level this "
            "TikTok account may use.",
            code="privacy_level_not_allowed",
        )
    return level

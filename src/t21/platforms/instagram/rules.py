"""What Instagram accepts: its limits (PLATFORMS.md §2 "Limits") and T21's per-post options."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from t21.platforms.base import MediaRule, PlatformLimits, TextCounting

MB = 1024 * 1024
MAX_CAPTION = 2200
MAX_CAROUSEL_ITEMS = 10
MIN_CAROUSEL_ITEMS = 2
MAX_COLLABORATORS = 3
MAX_STORY_VIDEO_S = 60.0

IMAGE_RULE = MediaRule(
    # JPEG per the docs; PNG is accepted in practice [3p].
    content_types=frozenset({"image/jpeg", "image/png"}),
    max_size_bytes=8 * MB,
    min_aspect=0.8,  # 4:5
    max_aspect=1.91,  # 1.91:1
    min_width=320,
    # Wider images are accepted and scaled down to 1440 px by Instagram: not a refusal.
)
VIDEO_RULE = MediaRule(
    content_types=frozenset({"video/mp4", "video/quicktime"}),
    # 300 MB per Ayrshare; other pages say 1 GB (unconfirmed), so the smaller one.
    max_size_bytes=300 * MB,
    min_duration_s=3.0,
    max_duration_s=15 * 60.0,
)

LIMITS = PlatformLimits(
    max_text=MAX_CAPTION,  # [postiz] [3p]
    text_counting=TextCounting.CHARACTERS,
    requires_media=True,  # no text-only posts [docs]
    # One image, one video (published as a reel) or a carousel of up to 10 of either.
    max_images=MAX_CAROUSEL_ITEMS,
    max_videos=MAX_CAROUSEL_ITEMS,
    mixed_media=True,
    image=IMAGE_RULE,
    video=VIDEO_RULE,
    min_multi_images=MIN_CAROUSEL_ITEMS,
    notes=(
        "A carousel holds 2–10 images or videos and counts as one post.",
        "Stories take one image or one video of at most 60 s, and have no caption.",
        "Publishing quota: a rolling 24 h window, 50 posts per the docs (25 and 100 reported).",
        "At most 30 hashtags and 20 @mentions per caption (unconfirmed officially).",
        "Video size: 300 MB here; a 1 GB limit is claimed elsewhere (unconfirmed).",
    ),
)

# A story is one image (any shape: 9:16 is its own) or one video of at most 60 s; a reel is one
# video.
SURFACE_LIMITS = {
    "story": replace(
        LIMITS,
        max_images=1,
        max_videos=1,
        mixed_media=False,
        image=replace(IMAGE_RULE, min_aspect=None, max_aspect=None),
        video=replace(VIDEO_RULE, max_duration_s=MAX_STORY_VIDEO_S),
    ),
    "reel": replace(LIMITS, max_images=0, max_videos=1, image=None),
}

Username = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^@?[A-Za-z0-9._]{1,30}$")
]


class InstagramOptions(BaseModel):
    """Per-post options. `kind` picks the surface; a single video in the feed is a reel."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["feed", "reel", "story"] = "feed"
    # Reels only: also show the reel in the feed grid (Instagram's default is true).
    share_to_feed: bool | None = None
    # Posted as a comment right after publishing; its failure doesn't fail the post.
    first_comment: str | None = Field(default=None, min_length=1, max_length=MAX_CAPTION)
    # A single image's alt text (carousel items take each item's own `alt_text`).
    alt_text: str | None = Field(default=None, min_length=1)
    # Reels only: a cover image URL, or a frame at `thumb_offset_ms`.
    cover_url: str | None = Field(default=None, pattern=r"^https?://")
    thumb_offset_ms: int | None = Field(default=None, ge=0)
    # Instagram usernames invited as collaborators (not on stories).
    collaborators: list[Username] = Field(default_factory=list, max_length=MAX_COLLABORATORS)

    @field_validator("collaborators")
    @classmethod
    def _without_at(cls, names: list[str]) -> list[str]:
        # Instagram refuses handles written with their leading @ (2207018).
        return [name.lstrip("@") for name in names]

    @model_validator(mode="after")
    def _fits_kind(self) -> InstagramOptions:
        if self.kind == "story":
            offending = [
                name
                for name in ("share_to_feed", "first_comment", "cover_url", "thumb_offset_ms")
                if getattr(self, name) is not None
            ]
            if self.collaborators:
                offending.append("collaborators")
            if offending:
                raise ValueError(f"stories don't take {', '.join(offending)}")
        if self.kind == "feed" and self.share_to_feed is False:
            raise ValueError("share_to_feed=false needs kind 'reel'")
        return self

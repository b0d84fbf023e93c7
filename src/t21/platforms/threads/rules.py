"""What Threads accepts: its limits and T21's per-post options.

Sources: https://developers.facebook.com/documentation/threads/posts (500-character text,
"Emojis are counted as the number of UTF-8 bytes"; carousels of 2–20 items per its Carousel
Posts section, as PLATFORMS.md §9 read it and https://docs.postsyncer.com/platforms/threads and
https://ayrshare.com/docs/apis/post/social-networks/threads restate it),
https://developers.facebook.com/docs/threads/reply-management (`reply_control`: everyone,
accounts_you_follow, mentioned_only, parent_post_author_only, followers_only),
https://developers.facebook.com/docs/threads/overview/ (250 API posts per 24 h moving window),
media specifications as Meta's Threads media guide lists them (restated by
https://ayrshare.com/docs/media-guidelines/threads): images JPEG/PNG ≤ 8 MB, aspect ≤ 10:1;
videos MOV/MP4 ≤ 1 GB, > 0 s and ≤ 300 s.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from t21.platforms.base import MediaRule, PlatformLimits, TextCounting
from t21.platforms.text import utf8_emoji_length

MB = 1024 * 1024
MAX_TEXT = 500
MAX_CAROUSEL_ITEMS = 20
MIN_CAROUSEL_ITEMS = 2

LIMITS = PlatformLimits(
    max_text=MAX_TEXT,
    # Characters, except that an emoji counts as its UTF-8 bytes.
    text_counting=TextCounting.UTF8_EMOJI,
    requires_media=False,
    max_images=MAX_CAROUSEL_ITEMS,
    max_videos=MAX_CAROUSEL_ITEMS,
    mixed_media=True,
    image=MediaRule(
        content_types=frozenset({"image/jpeg", "image/png"}),
        max_size_bytes=8 * MB,
        min_aspect=0.1,
        max_aspect=10.0,
    ),
    video=MediaRule(
        content_types=frozenset({"video/mp4", "video/quicktime"}),
        max_size_bytes=1024 * MB,
        max_duration_s=300.0,
    ),
    min_multi_images=MIN_CAROUSEL_ITEMS,
    notes=(
        "Text: at most 500 characters; each emoji counts as its UTF-8 bytes (4 for most).",
        "A carousel holds 2–20 images or videos and counts as one post.",
        "Publishing quota: 250 posts per moving 24 h, read from threads_publishing_limit.",
    ),
)


def threads_length(text: str) -> int:
    """The length Threads measures: one per character, an emoji's UTF-8 bytes."""
    return utf8_emoji_length(text)


class ThreadsOptions(BaseModel):
    """Per-post options: who may reply (Threads' `reply_control`; its default: everyone)."""

    model_config = ConfigDict(extra="forbid")

    reply_control: (
        Literal[
            "everyone",
            "accounts_you_follow",
            "mentioned_only",
            "parent_post_author_only",
            "followers_only",
        ]
        | None
    ) = None

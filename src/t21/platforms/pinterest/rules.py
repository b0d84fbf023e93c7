"""What a pin may be: the limits `GET /api/v1/platforms` shows, the options a pin takes, and the
checks that need more than the limits (a carousel's images, a link's form).

The text of a post is the pin's description. Pinterest's API takes descriptions of up to 800
characters, but its product specs tell people 500, so T21 holds posts to 500 (the fake enforces
the API's own 800). Sources in the package docstring.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from t21.core.outside import Permanent
from t21.platforms.base import (
    MediaItem,
    MediaKind,
    MediaRule,
    PlatformLimits,
    PublishRequest,
    TextCounting,
    parse_options,
)

MIB = 1024 * 1024
MAX_DESCRIPTION = 500  # product specs: "Description: Enter up to 500 characters"
MAX_TITLE = 100  # PinCreate.title maxLength 100; product specs: up to 100 characters
MAX_ALT_TEXT = 500  # PinCreate.alt_text maxLength 500
MAX_LINK = 2048  # PinCreate.link maxLength 2048
MIN_CAROUSEL = 2  # PinMediaSourceImagesURL.items: minItems 2, maxItems 5
MAX_CAROUSEL = 5
IMAGE_MAX_BYTES = 20 * MIB  # help center product specs: max file size (desktop) 20 MB
VIDEO_MAX_BYTES = 2 * 1024 * MIB  # product specs: up to 2GB
VIDEO_MIN_S = 4.0  # product specs: minimum 4 seconds, maximum 15 minutes
VIDEO_MAX_S = 15 * 60.0
# Product specs: "Shorter than 1:2 (width:height), taller than 1.91:1".
VIDEO_MIN_ASPECT = 0.5
VIDEO_MAX_ASPECT = 1.91

LIMITS = PlatformLimits(
    max_text=MAX_DESCRIPTION,
    text_counting=TextCounting.CHARACTERS,
    requires_media=True,
    max_images=MAX_CAROUSEL,
    max_videos=1,
    mixed_media=False,
    # The API's image media sources take image/jpeg and image/png (`ContentType`).
    image=MediaRule(
        content_types=frozenset({"image/jpeg", "image/png"}), max_size_bytes=IMAGE_MAX_BYTES
    ),
    video=MediaRule(
        content_types=frozenset({"video/mp4", "video/quicktime", "video/x-m4v"}),
        max_size_bytes=VIDEO_MAX_BYTES,
        min_aspect=VIDEO_MIN_ASPECT,
        max_aspect=VIDEO_MAX_ASPECT,
        min_duration_s=VIDEO_MIN_S,
        max_duration_s=VIDEO_MAX_S,
    ),
    min_multi_images=MIN_CAROUSEL,
    notes=(
        "The post's text is the pin's description.",
        "Every pin goes to a board of the account: options.board_id, one of "
        "GET /api/v1/social-accounts/{id}/boards.",
        "One image, one video, or a carousel of 2 to 5 images.",
    ),
)

BoardId = Annotated[str, StringConstraints(pattern=r"^\d{1,30}$")]


class PinterestOptions(BaseModel):
    """Per-pin options of a Pinterest pin. `board_id` is required: one of the account's boards
    (GET /api/v1/social-accounts/{id}/boards). The post's text is the pin's description."""

    model_config = ConfigDict(extra="forbid")

    board_id: BoardId
    title: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE)] | None = None
    # Where the pin leads when clicked (an http or https URL).
    link: Annotated[str, StringConstraints(min_length=1, max_length=MAX_LINK)] | None = None
    # Describes the image for people using screen readers; the first image's own alt text
    # when not given.
    alt_text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ALT_TEXT)] | None = None

    @field_validator("link")
    @classmethod
    def _web_link(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value


def pin_kind(media: list[MediaItem]) -> str:
    """ "image", "video" or "carousel" for the pin `media` make; `Permanent` for none."""
    if not media:
        raise Permanent("A Pinterest pin needs an image or a video.", code="media_required")
    if any(item.kind is MediaKind.VIDEO for item in media):
        if len(media) > 1:
            raise Permanent(
                "A Pinterest video pin holds one video and nothing else.", code="too_many_media"
            )
        return "video"
    if len(media) == 1:
        return "image"
    if not MIN_CAROUSEL <= len(media) <= MAX_CAROUSEL:
        raise Permanent(
            f"A Pinterest carousel takes {MIN_CAROUSEL} to {MAX_CAROUSEL} images.",
            code="too_many_media",
        )
    return "carousel"


def alt_text_problem(options: PinterestOptions, media: list[MediaItem]) -> str | None:
    text = options.alt_text or (media[0].alt_text if media else None)
    if text is not None and len(text) > MAX_ALT_TEXT:
        return f"A Pinterest pin's alt text takes at most {MAX_ALT_TEXT} characters."
    return None


def check(request: PublishRequest) -> PinterestOptions:
    """The request's options, once the pin is one Pinterest takes; `Permanent` naming the rule."""
    options = parse_options(PinterestOptions, request.options, "Pinterest")
    pin_kind(request.media)
    problem = alt_text_problem(options, request.media)
    if problem is not None:
        raise Permanent(problem, code="alt_text_too_long")
    return options

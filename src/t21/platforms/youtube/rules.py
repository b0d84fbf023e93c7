"""What a YouTube upload must be, checked when the post is written and again before sending:
the options (title, privacy, tags, category, made for kids, notifying subscribers, a scheduled
publish time) and the media (one video, and at most one image as its custom thumbnail).

The limits are YouTube's own (sources in the package docstring): a title of at most 100
characters, a description of at most 5,000 bytes, neither with `<` or `>`; tags together at
most 500 characters, counting the commas between them and the quotes YouTube puts around a tag
with a space; `publish_at` only for a private video, in the future. A first comment: at most
10,000 characters, on an account that granted `youtube.force-ssl`, never on a video made for
kids (YouTube turns comments off on those)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from t21.core import clock
from t21.core.outside import Permanent
from t21.platforms.base import MediaKind, MediaRule, PlatformLimits, PublishRequest, TextCounting
from t21.platforms.rules import Violation

MAX_TITLE = 100  # characters
MAX_DESCRIPTION_BYTES = 5000  # UTF-8 bytes
MAX_TAGS = 500  # characters, all tags together
VIDEO_MAX_BYTES = 256 * 1024**3  # videos.insert: maximum file size 256 GB
THUMBNAIL_MAX_BYTES = 2 * 1024 * 1024  # thumbnails.set: maximum file size 2 MB
# A comment's textOriginal: YouTube answers commentTextTooLong past its limit without saying
# it in the reference; 10,000 characters is the limit commonly reported (unconfirmed).
MAX_COMMENT = 10_000
COMMENT_SCOPE_MISSING = (
    "This YouTube channel was connected without the permission to comment "
    "(https://www.googleapis.com/auth/youtube.force-ssl); connect it again and allow it to "
    "post a first comment."
)
# A vertical or square video up to three minutes long is shown as a Short.
SHORTS_MAX_S = 180.0
VIDEO_TYPES = frozenset(
    {"video/mp4", "video/quicktime", "video/webm", "video/x-msvideo", "video/mpeg", "video/3gpp"}
)
THUMBNAIL_TYPES = frozenset({"image/jpeg", "image/png"})
FORBIDDEN = ("<", ">")

LIMITS = PlatformLimits(
    max_text=MAX_DESCRIPTION_BYTES,
    text_counting=TextCounting.CHARACTERS,
    requires_media=True,
    max_images=1,
    max_videos=1,
    mixed_media=True,
    image=MediaRule(content_types=THUMBNAIL_TYPES, max_size_bytes=THUMBNAIL_MAX_BYTES),
    video=MediaRule(content_types=VIDEO_TYPES, max_size_bytes=VIDEO_MAX_BYTES),
    notes=(
        "One video per post; an image with it becomes the video's custom thumbnail "
        "(JPEG or PNG, up to 2 MB; the channel must be verified for custom thumbnails).",
        "The post's text is the video's description: at most 5,000 bytes, without < or >.",
        "A vertical or square video of up to 3 minutes is shown as a Short.",
        "Uploads spend T21's project's daily YouTube quota; when it is used up they wait for "
        "its reset at midnight Pacific time.",
    ),
)


class YouTubeOptions(BaseModel):
    """Per-video options. `title` and `privacy` are required; the post's text (or
    `description`) is the description. `publish_at` schedules a private video to go public."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    description: str | None = None
    privacy: Literal["public", "unlisted", "private"]
    tags: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]] | None = None
    category_id: Annotated[str, StringConstraints(pattern=r"^\d{1,4}$")] | None = None
    made_for_kids: bool | None = None
    notify_subscribers: bool | None = None
    publish_at: AwareDatetime | None = None
    # Posted by T21 as the channel under the video once it is out (commentThreads.insert);
    # its failure never takes the video back.
    first_comment: str | None = Field(default=None, min_length=1, max_length=MAX_COMMENT)


def comment_blocker(options: dict[str, Any], capabilities: dict[str, Any]) -> Violation | None:
    """Why a target of these options can't have a first comment on an account that may do
    `capabilities` (`comments`: the comment scope was granted at connection); None if it can.
    A channel connected before T21 asked for the scope has no `comments` and must reconnect."""
    if capabilities.get("comments") is not True:
        return Violation("first_comment_scope_missing", COMMENT_SCOPE_MISSING)
    if options.get("made_for_kids") is True:
        return Violation(
            "first_comment_made_for_kids",
            "YouTube turns comments off on videos made for kids: no first comment on one.",
        )
    return None


def tags_length(tags: list[str]) -> int:
    """The tags' length as YouTube counts it: commas between them, quotes around a tag with a
    space."""
    return sum(len(tag) + (2 if " " in tag else 0) for tag in tags) + max(0, len(tags) - 1)


def description_of(request: PublishRequest, options: YouTubeOptions) -> str:
    return options.description if options.description is not None else request.text


def check(request: PublishRequest, options: YouTubeOptions, now: datetime | None = None) -> None:
    """Refuse, by rule name, a request YouTube would refuse."""
    videos = [item for item in request.media if item.kind is MediaKind.VIDEO]
    if len(videos) != 1:
        raise Permanent("A YouTube post is one video.", code="video_required")
    if len(options.title) > MAX_TITLE:
        raise Permanent(
            f"The title has {len(options.title)} characters; YouTube takes at most {MAX_TITLE}.",
            code="title_too_long",
        )
    description = description_of(request, options)
    size = len(description.encode("utf-8"))
    if size > MAX_DESCRIPTION_BYTES:
        raise Permanent(
            f"The description is {size} bytes (UTF-8); YouTube takes at most "
            f"{MAX_DESCRIPTION_BYTES}.",
            code="description_too_long",
        )
    if any(mark in options.title or mark in description for mark in FORBIDDEN):
        raise Permanent(
            "YouTube titles and descriptions can't contain < or >.", code="invalid_characters"
        )
    if options.tags and tags_length(options.tags) > MAX_TAGS:
        raise Permanent(
            f"The tags take {tags_length(options.tags)} characters as YouTube counts them "
            f"(commas between tags, quotes around a tag with a space); at most {MAX_TAGS}.",
            code="tags_too_long",
        )
    if options.publish_at is not None:
        if options.privacy != "private":
            raise Permanent(
                "publish_at schedules a private video to go public: set privacy to private.",
                code="publish_at_requires_private",
            )
        if options.publish_at <= (now or clock.now()):
            raise Permanent("publish_at must be in the future.", code="publish_at_past")


def is_short(width: int | None, height: int | None, duration_s: float | None) -> bool:
    """Whether YouTube shows a video as a Short: vertical or square, up to three minutes."""
    if not width or not height or duration_s is None:
        return False
    return height >= width and duration_s <= SHORTS_MAX_S

"""Whether a post fits a network's limits, checked before anything is sent.

`violations()` compares a target's text and media with the `PlatformLimits` of the surface it
goes to and names every rule it breaks, so a post is refused when it is written (422) rather than
at 3 a.m. when it is published. The rule names are stable: clients may match on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from t21.platforms.base import MediaKind, MediaRule, PlatformLimits, TextCounting
from t21.platforms.text import X_URL_LENGTH, text_length

# How each counting is described to the person whose text is too long.
COUNTING_NOTES = {
    TextCounting.CHARACTERS: "",
    TextCounting.GRAPHEMES: " (counted as the characters a reader sees)",
    TextCounting.UTF8_EMOJI: " (as Threads counts them: each emoji as its UTF-8 bytes, 4 for most)",
    TextCounting.X_WEIGHTED: (
        f" (as X counts them: each link {X_URL_LENGTH}, each emoji and each CJK character 2)"
    ),
}


class MediaFacts(Protocol):
    """What is known of one image or video before it is published."""

    @property
    def kind(self) -> MediaKind: ...
    @property
    def content_type(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...
    @property
    def duration_s(self) -> float | None: ...


@dataclass(frozen=True)
class Violation:
    """One broken rule. `media_index` points at the media item concerned, if one is."""

    rule: str
    message: str
    media_index: int | None = None


def violations(
    limits: PlatformLimits, network: str, text: str, media: Sequence[MediaFacts]
) -> list[Violation]:
    """Every rule of `limits` that a post of `text` and `media` on `network` breaks."""
    found = _text_violations(limits, network, text, media)
    found += _count_violations(limits, network, media)
    for index, item in enumerate(media):
        found += _item_violations(limits, network, index, item)
    return found


def _text_violations(
    limits: PlatformLimits, network: str, text: str, media: Sequence[MediaFacts]
) -> list[Violation]:
    found = []
    length = text_length(text, limits.text_counting)
    if length > limits.max_text:
        note = COUNTING_NOTES[limits.text_counting]
        found.append(
            Violation(
                "text_too_long",
                f"The text is {length} characters{note}; {network} takes at most "
                f"{limits.max_text}.",
            )
        )
    if not media and limits.requires_media:
        found.append(Violation("media_required", f"{network} posts need an image or a video."))
    elif not media and not text.strip():
        found.append(Violation("empty", "The post has neither text nor media."))
    return found


def _count_violations(
    limits: PlatformLimits, network: str, media: Sequence[MediaFacts]
) -> list[Violation]:
    found = []
    images = sum(1 for item in media if item.kind is MediaKind.IMAGE)
    videos = sum(1 for item in media if item.kind is MediaKind.VIDEO)
    if images and videos and not limits.mixed_media:
        found.append(
            Violation("mixed_media", f"A {network} post takes images or a video, not both.")
        )
    if limits.image is not None and images > limits.max_images:
        found.append(
            Violation(
                "too_many_images",
                f"{images} images; {network} takes at most {limits.max_images} per post.",
            )
        )
    if limits.video is not None and videos > limits.max_videos:
        found.append(
            Violation(
                "too_many_videos",
                f"{videos} videos; {network} takes at most {limits.max_videos} per post.",
            )
        )
    if 1 < images < limits.min_multi_images:
        found.append(
            Violation(
                "too_few_images",
                f"A {network} post with several images needs at least {limits.min_multi_images}.",
            )
        )
    return found


def _item_violations(
    limits: PlatformLimits, network: str, index: int, item: MediaFacts
) -> list[Violation]:
    rule = limits.image if item.kind is MediaKind.IMAGE else limits.video
    if rule is None:
        return [Violation("media_type", f"{network} takes no {item.kind.value}s here.", index)]
    found = []
    if item.content_type not in rule.content_types:
        accepted = ", ".join(sorted(rule.content_types))
        found.append(
            Violation(
                "media_type",
                f"{network} doesn't take {item.content_type} {item.kind.value}s "
                f"(it takes {accepted}).",
                index,
            )
        )
    if item.size > rule.max_size_bytes:
        found.append(
            Violation(
                "media_too_large",
                f"The {item.kind.value} is {_size(item.size)}; {network} takes at most "
                f"{_size(rule.max_size_bytes)}.",
                index,
            )
        )
    found += _shape_violations(rule, network, index, item)
    return found


def _shape_violations(
    rule: MediaRule, network: str, index: int, item: MediaFacts
) -> list[Violation]:
    found = []
    kind = item.kind.value
    if item.width and item.height:
        aspect = item.width / item.height
        too_narrow = rule.min_aspect is not None and aspect < rule.min_aspect - 1e-9
        too_wide = rule.max_aspect is not None and aspect > rule.max_aspect + 1e-9
        if too_narrow or too_wide:
            found.append(
                Violation(
                    "aspect_ratio",
                    f"The {kind} is {item.width}×{item.height} (aspect {aspect:.2f}); {network} "
                    f"takes {_aspect_range(rule)}.",
                    index,
                )
            )
        if rule.min_width is not None and min(item.width, item.height) < rule.min_width:
            found.append(
                Violation(
                    "media_too_small",
                    f"The {kind} is {item.width}×{item.height}; {network} needs at least "
                    f"{rule.min_width} px.",
                    index,
                )
            )
        if rule.max_width is not None and max(item.width, item.height) > rule.max_width:
            found.append(
                Violation(
                    "media_too_big",
                    f"The {kind} is {item.width}×{item.height}; {network} takes at most "
                    f"{rule.max_width} px a side.",
                    index,
                )
            )
    if item.duration_s is not None:
        if rule.min_duration_s is not None and item.duration_s < rule.min_duration_s:
            found.append(
                Violation(
                    "video_too_short",
                    f"The video lasts {item.duration_s:g} s; {network} needs at least "
                    f"{rule.min_duration_s:g} s.",
                    index,
                )
            )
        if rule.max_duration_s is not None and item.duration_s > rule.max_duration_s:
            found.append(
                Violation(
                    "video_too_long",
                    f"The video lasts {item.duration_s:g} s; {network} takes at most "
                    f"{rule.max_duration_s:g} s.",
                    index,
                )
            )
    return found


def _aspect_range(rule: MediaRule) -> str:
    low = f"{rule.min_aspect:.2f}" if rule.min_aspect is not None else "any"
    high = f"{rule.max_aspect:.2f}" if rule.max_aspect is not None else "any"
    return f"width/height from {low} to {high}"


def _size(size: int) -> str:
    mib = size / (1024 * 1024)
    if mib >= 1:
        return f"{mib:.1f} MiB".replace(".0 MiB", " MiB")
    return f"{size} bytes"

"""Every network's limits, at their boundaries: exactly at a limit passes, one over fails."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from t21.platforms import registry
from t21.platforms.base import MediaKind, MediaRule, PlatformLimits, TextCounting
from t21.platforms.rules import violations
from t21.platforms.text import text_length

NETWORKS = registry.names()


@dataclass(frozen=True)
class Facts:
    kind: MediaKind
    content_type: str
    size: int = 1000
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None


def limits_of(name: str) -> PlatformLimits:
    return registry.provider_class(name).limits


def rules(name: str, text: str, media: list[Facts]) -> list[str]:
    return [found.rule for found in violations(limits_of(name), name, text, media)]


def good_item(rule: MediaRule, kind: MediaKind) -> Facts:
    """Media that meets every part of `rule`."""
    width = max(rule.min_width or 0, 1080)
    if rule.max_width is not None:
        width = min(width, rule.max_width)
    aspect = 1.0
    if rule.min_aspect is not None and aspect < rule.min_aspect:
        aspect = rule.min_aspect
    if rule.max_aspect is not None and aspect > rule.max_aspect:
        aspect = rule.max_aspect
    duration = None
    if kind is MediaKind.VIDEO:
        duration = max(rule.min_duration_s or 0, 10.0)
        if rule.max_duration_s is not None:
            duration = min(duration, rule.max_duration_s)
    return Facts(
        kind=kind,
        content_type=sorted(rule.content_types)[0],
        size=1000,
        width=width,
        height=round(width / aspect),
        duration_s=duration,
    )


def enough_media(name: str) -> list[Facts]:
    limits = limits_of(name)
    if not limits.requires_media:
        return []
    assert limits.image is not None
    return [good_item(limits.image, MediaKind.IMAGE)]


@pytest.mark.parametrize("name", NETWORKS)
def test_text_exactly_at_the_limit_passes_and_one_more_fails(name: str) -> None:
    limits = limits_of(name)
    media = enough_media(name)
    assert rules(name, "a" * limits.max_text, media) == []
    assert rules(name, "a" * (limits.max_text + 1), media) == ["text_too_long"]


@pytest.mark.parametrize("name", NETWORKS)
def test_the_message_says_the_count_and_the_limit(name: str) -> None:
    limits = limits_of(name)
    [found] = violations(limits, "Net", "a" * (limits.max_text + 5), enough_media(name))
    assert str(limits.max_text + 5) in found.message
    assert str(limits.max_text) in found.message


def test_x_counts_cjk_characters_as_two() -> None:
    assert rules("twitter", "漢" * 140, []) == []
    assert rules("twitter", "漢" * 141, []) == ["text_too_long"]


def test_x_counts_each_emoji_as_two_however_many_code_points() -> None:
    family = "👨‍👩‍👧‍👦"  # seven code points, one emoji
    assert text_length(family, TextCounting.X_WEIGHTED) == 2
    assert rules("twitter", family * 140, []) == []
    assert rules("twitter", family * 140 + "a", []) == ["text_too_long"]
    flag = "🇬🇧"
    assert rules("twitter", "a" * 278 + flag, []) == []
    assert rules("twitter", "a" * 279 + flag, []) == ["text_too_long"]


def test_x_counts_every_url_as_23_whatever_its_length() -> None:
    url = "https://example.com/" + "x" * 200
    text = "a" * 256 + " " + url  # 256 + 1 + 23 = 280
    assert rules("twitter", text, []) == []
    assert rules("twitter", "a" + text, []) == ["text_too_long"]
    short = "a" * 256 + " t.co"  # a bare domain is a URL too
    assert text_length(short, TextCounting.X_WEIGHTED) == 280


def test_code_point_networks_count_cjk_and_emoji_as_one_each() -> None:
    limit = limits_of("linkedin").max_text
    assert rules("linkedin", "漢" * limit, []) == []
    assert rules("linkedin", "🙂" * limit, []) == []
    assert rules("linkedin", "🙂" * (limit + 1), []) == ["text_too_long"]


# Without a dot no link can form, so every printable ASCII character counts 1.
@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="."),
        max_size=280,
    )
)
def test_x_never_refuses_ascii_without_links_within_280(text: str) -> None:
    assert "text_too_long" not in rules("twitter", text, [])


def test_x_counts_a_link_in_short_ascii_as_23_and_can_refuse_it() -> None:
    text = "a" * 262 + " a.co"  # 267 characters, 286 weighted
    assert rules("twitter", text, []) == ["text_too_long"]
    assert rules("twitter", "a" * 256 + " a.co", []) == []  # 280 weighted


@pytest.mark.parametrize("name", [n for n in NETWORKS if limits_of(n).requires_media])
def test_networks_without_text_only_posts_require_media(name: str) -> None:
    assert rules(name, "Hello", []) == ["media_required"]


@pytest.mark.parametrize("name", [n for n in NETWORKS if not limits_of(n).requires_media])
def test_a_post_with_neither_text_nor_media_is_empty(name: str) -> None:
    assert rules(name, "   ", []) == ["empty"]


@pytest.mark.parametrize("name", NETWORKS)
def test_image_count_at_the_limit_passes_and_one_more_fails(name: str) -> None:
    limits = limits_of(name)
    if limits.image is None or limits.max_images < 1:
        pytest.fail(f"{name} takes images; its limits should say so")
    image = good_item(limits.image, MediaKind.IMAGE)
    assert rules(name, "Hi", [image] * limits.max_images) == []
    assert rules(name, "Hi", [image] * (limits.max_images + 1)) == ["too_many_images"]


@pytest.mark.parametrize("name", [n for n in NETWORKS if limits_of(n).video is not None])
def test_video_count_at_the_limit_passes_and_one_more_fails(name: str) -> None:
    limits = limits_of(name)
    assert limits.video is not None
    video = good_item(limits.video, MediaKind.VIDEO)
    assert rules(name, "Hi", [video] * limits.max_videos) == []
    assert rules(name, "Hi", [video] * (limits.max_videos + 1)) == ["too_many_videos"]


@pytest.mark.parametrize(
    "name",
    [n for n in NETWORKS if not limits_of(n).mixed_media and limits_of(n).video is not None],
)
def test_images_and_a_video_together_are_refused_where_they_cant_mix(name: str) -> None:
    limits = limits_of(name)
    assert limits.image is not None
    assert limits.video is not None
    media = [good_item(limits.image, MediaKind.IMAGE), good_item(limits.video, MediaKind.VIDEO)]
    assert rules(name, "Hi", media) == ["mixed_media"]


def test_a_multi_image_post_needs_the_minimum_where_one_is_set() -> None:
    rule = MediaRule(frozenset({"image/jpeg"}), max_size_bytes=10_000)
    limits = replace(limits_of("linkedin"), image=rule, min_multi_images=3)
    image = Facts(MediaKind.IMAGE, "image/jpeg")
    found = [v.rule for v in violations(limits, "Net", "Hi", [image] * 2)]
    assert found == ["too_few_images"]
    assert violations(limits, "Net", "Hi", [image]) == []
    assert violations(limits, "Net", "Hi", [image] * 3) == []


def media_cases() -> list[tuple[str, MediaKind]]:
    """Each network with each kind of media it takes."""
    return [
        (name, kind)
        for name in NETWORKS
        for kind, rule in (
            (MediaKind.IMAGE, limits_of(name).image),
            (MediaKind.VIDEO, limits_of(name).video),
        )
        if rule is not None
    ]


@pytest.mark.parametrize(("name", "kind"), media_cases())
def test_media_size_at_the_limit_passes_and_one_byte_more_fails(name: str, kind: MediaKind) -> None:
    limits = limits_of(name)
    rule = limits.image if kind is MediaKind.IMAGE else limits.video
    assert rule is not None
    item = good_item(rule, kind)
    at_limit = Facts(**{**item.__dict__, "size": rule.max_size_bytes})
    over = Facts(**{**item.__dict__, "size": rule.max_size_bytes + 1})
    assert rules(name, "Hi", [at_limit]) == []
    assert rules(name, "Hi", [over]) == ["media_too_large"]


@pytest.mark.parametrize(("name", "kind"), media_cases())
def test_a_type_the_network_does_not_take_is_refused(name: str, kind: MediaKind) -> None:
    limits = limits_of(name)
    rule = limits.image if kind is MediaKind.IMAGE else limits.video
    assert rule is not None
    item = Facts(**{**good_item(rule, kind).__dict__, "content_type": f"{kind.value}/x-unknown"})
    assert rules(name, "Hi", [item]) == ["media_type"]


def aspect_cases() -> list[tuple[str, MediaKind]]:
    cases = []
    for name in NETWORKS:
        limits = limits_of(name)
        for kind, rule in ((MediaKind.IMAGE, limits.image), (MediaKind.VIDEO, limits.video)):
            if rule is not None and rule.min_aspect is not None and rule.max_aspect is not None:
                cases.append((name, kind))
    return cases


@pytest.mark.parametrize(("name", "kind"), aspect_cases())
def test_aspect_ratio_at_its_bounds_passes_and_beyond_fails(name: str, kind: MediaKind) -> None:
    limits = limits_of(name)
    rule = limits.image if kind is MediaKind.IMAGE else limits.video
    assert rule is not None
    assert rule.min_aspect is not None
    assert rule.max_aspect is not None
    base = good_item(rule, kind).__dict__
    height = 10_000
    widest = Facts(**{**base, "width": int(height * rule.max_aspect), "height": height})
    too_wide = Facts(**{**base, "width": int(height * rule.max_aspect) + 20, "height": height})
    narrowest = Facts(**{**base, "width": height, "height": int(height / rule.min_aspect)})
    too_narrow = Facts(**{**base, "width": height, "height": int(height / rule.min_aspect) + 20})
    assert "aspect_ratio" not in rules(name, "Hi", [widest])
    assert "aspect_ratio" in rules(name, "Hi", [too_wide])
    assert "aspect_ratio" not in rules(name, "Hi", [narrowest])
    assert "aspect_ratio" in rules(name, "Hi", [too_narrow])


def duration_cases() -> list[str]:
    return [n for n in NETWORKS if (limits_of(n).video or MediaRule(frozenset(), 0)).max_duration_s]


@pytest.mark.parametrize("name", duration_cases())
def test_video_duration_at_its_bounds_passes_and_beyond_fails(name: str) -> None:
    rule = limits_of(name).video
    assert rule is not None
    assert rule.max_duration_s is not None
    base = good_item(rule, MediaKind.VIDEO).__dict__
    assert rules(name, "Hi", [Facts(**{**base, "duration_s": rule.max_duration_s})]) == []
    longer = Facts(**{**base, "duration_s": rule.max_duration_s + 0.5})
    assert rules(name, "Hi", [longer]) == ["video_too_long"]
    if rule.min_duration_s:
        assert rules(name, "Hi", [Facts(**{**base, "duration_s": rule.min_duration_s})]) == []
        shorter = Facts(**{**base, "duration_s": rule.min_duration_s - 0.1})
        assert rules(name, "Hi", [shorter]) == ["video_too_short"]


def test_a_too_small_image_is_refused_where_a_minimum_width_exists() -> None:
    rule = limits_of("instagram").image
    assert rule is not None
    assert rule.min_width == 320
    ok = Facts(MediaKind.IMAGE, "image/jpeg", width=320, height=320)
    small = Facts(MediaKind.IMAGE, "image/jpeg", width=319, height=319)
    assert rules("instagram", "Hi", [ok]) == []
    assert rules("instagram", "Hi", [small]) == ["media_too_small"]
    wide = Facts(MediaKind.IMAGE, "image/jpeg", width=4000, height=4000)
    assert rules("instagram", "Hi", [wide]) == []


def test_each_problem_of_one_item_points_at_it() -> None:
    rule = limits_of("twitter").image
    assert rule is not None
    good = good_item(rule, MediaKind.IMAGE)
    bad = Facts(MediaKind.IMAGE, "image/tiff", size=rule.max_size_bytes + 1)
    found = violations(limits_of("twitter"), "X", "Hi", [good, bad])
    assert [(v.rule, v.media_index) for v in found] == [("media_type", 1), ("media_too_large", 1)]

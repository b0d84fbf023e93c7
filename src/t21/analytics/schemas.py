"""What the analytics endpoints give."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from t21.analytics.models import METRICS
from t21.posts.models import PostStatus, TargetStatus

ENGAGEMENT = ("likes", "comments", "shares", "saves")
RATE_DIGITS = 4


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"


class RankMetric(StrEnum):
    IMPRESSIONS = "impressions"
    REACH = "reach"
    LIKES = "likes"
    COMMENTS = "comments"
    SHARES = "shares"
    SAVES = "saves"
    CLICKS = "clicks"
    VIDEO_VIEWS = "video_views"
    OUTBOUND_CLICKS = "outbound_clicks"
    ENGAGEMENT_RATE = "engagement_rate"


def engagement_rate(values: Mapping[str, int | None], exposure: int | None = None) -> float | None:
    """(likes + comments + shares + saves) / impressions, or / reach where impressions is
    unknown; rounded to 4 places. None when no engagement number or no exposure is known.
    `exposure` overrides the denominator (a sum of each target's impressions-or-reach)."""
    engaged = [values.get(name) for name in ENGAGEMENT]
    if all(value is None for value in engaged):
        return None
    if exposure is None:
        impressions, reach = values.get("impressions"), values.get("reach")
        exposure = impressions if impressions is not None else reach
    if not exposure:
        return None
    return round(sum(value or 0 for value in engaged) / exposure, RATE_DIGITS)


class Metrics(BaseModel):
    """A post's numbers; null where the network doesn't give that number (or hasn't yet)."""

    impressions: int | None = None
    reach: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    clicks: int | None = Field(
        default=None, description="Clicks on the post itself (opening it, its media)."
    )
    video_views: int | None = None
    outbound_clicks: int | None = Field(
        default=None,
        description="Clicks out to the post's link (Pinterest's outbound clicks); null where "
        "the network doesn't count them apart from `clicks`.",
    )
    engagement_rate: float | None = Field(
        default=None,
        description="(likes + comments + shares + saves) / impressions (reach where impressions "
        "is null), rounded to 4 places; null when neither is known.",
    )

    @classmethod
    def of(cls, values: Mapping[str, Any], exposure: int | None = None) -> Metrics:
        numbers = {name: _int(values.get(name)) for name in METRICS}
        return cls(**numbers, engagement_rate=engagement_rate(numbers, exposure))


def _int(value: Any) -> int | None:
    # PostgreSQL sums integers as numeric.
    return None if value is None else int(value)


class SnapshotOut(Metrics):
    collected_at: datetime

    @classmethod
    def snapshot(cls, values: Any) -> SnapshotOut:
        numbers = {name: getattr(values, name) for name in METRICS}
        return cls(
            **numbers,
            engagement_rate=engagement_rate(numbers),
            collected_at=values.collected_at,
        )


class TargetAnalytics(BaseModel):
    target_id: uuid.UUID
    social_account_id: uuid.UUID | None
    platform: str
    status: TargetStatus
    external_id: str | None
    permalink: str | None
    published_at: datetime | None
    next_collect_at: datetime | None = Field(
        description="When its numbers are next collected; null once collection has stopped."
    )
    latest: SnapshotOut | None = Field(description="The last collection; null before the first.")
    history: list[SnapshotOut] = Field(description="Every collection, oldest first.")
    metrics_unavailable: str | None = Field(
        default=None,
        description="Why no numbers are collected for this target: its network gives none per "
        "post (Google Business Profile), or its account lacks a permission the numbers need. "
        "Null while they are collected.",
    )


class PostAnalytics(BaseModel):
    post_id: uuid.UUID
    brand_id: uuid.UUID
    totals: Metrics = Field(description="The sum over targets of each target's latest numbers.")
    targets: list[TargetAnalytics]


class SeriesPoint(Metrics):
    start: date = Field(description="The first day of the bucket (UTC; a Monday for weeks).")


class BrandAnalytics(BaseModel):
    brand_id: uuid.UUID
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    interval: Interval
    platform: str | None
    posts: int = Field(description="Posts with at least one collection in the window.")
    targets: int = Field(description="Targets with at least one collection in the window.")
    totals: Metrics = Field(
        description="The sum over targets of each target's latest collection in the window."
    )
    series: list[SeriesPoint] = Field(
        description="One point per UTC day or ISO week overlapping the window, oldest first. A "
        "point is the sum over targets of each target's latest collection from `from` up to "
        "the end of the bucket (a running level, not growth), so the last point equals "
        "`totals`. A metric is null throughout when no target reports it."
    )


class TopPost(BaseModel):
    post_id: uuid.UUID
    content: str
    status: PostStatus
    published_at: datetime | None
    value: float | int = Field(description="The ranking metric's value.")
    totals: Metrics = Field(description="The sum over targets of each target's latest numbers.")


class TopPosts(BaseModel):
    metric: RankMetric
    items: list[TopPost]

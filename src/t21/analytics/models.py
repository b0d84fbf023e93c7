"""Metric snapshots: one row per collection of one target's numbers, never overwritten, so the
history of a post's performance is a time series."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from t21.core.ids import uuid7
from t21.core.models import Base

METRICS = (
    "impressions",
    "reach",
    "likes",
    "comments",
    "shares",
    "saves",
    "clicks",
    "video_views",
    # Clicks out to the post's link (Pinterest's outbound clicks); `clicks` are those on the
    # post itself. Last, so the export's earlier columns keep their places.
    "outbound_clicks",
)


class MetricSnapshot(Base):
    __tablename__ = "metric_snapshots"
    __table_args__ = (
        Index("ix_metric_snapshots_target_id_collected_at", "target_id", "collected_at"),
        Index("ix_metric_snapshots_brand_id_collected_at", "brand_id", "collected_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    target_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("post_targets.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    collected_at: Mapped[datetime]
    # None where the network doesn't give that number.
    impressions: Mapped[int | None] = mapped_column(BigInteger)
    reach: Mapped[int | None] = mapped_column(BigInteger)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    comments: Mapped[int | None] = mapped_column(BigInteger)
    shares: Mapped[int | None] = mapped_column(BigInteger)
    saves: Mapped[int | None] = mapped_column(BigInteger)
    clicks: Mapped[int | None] = mapped_column(BigInteger)
    video_views: Mapped[int | None] = mapped_column(BigInteger)
    outbound_clicks: Mapped[int | None] = mapped_column(BigInteger)

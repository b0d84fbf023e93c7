"""Publishing posts, and collecting their analytics."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PublishingSettings(BaseModel):
    """The dispatcher and the publish jobs."""

    # --- publishing ----------------------------------------------------------------------------
    dispatch_interval_s: float = Field(default=1.0, gt=0)
    dispatch_batch: int = Field(default=200, ge=1, le=10_000)
    publish_lease_s: float = Field(default=600.0, ge=30)
    publish_max_attempts: int = Field(default=6, ge=1, le=50)
    publish_retry_base_s: float = Field(default=30.0, gt=0)
    publish_retry_max_s: float = Field(default=3600.0, gt=0)
    reaper_interval_s: float = Field(default=10.0, gt=0)
    queued_stale_s: float = Field(default=60.0, gt=0)
    # Targets one publish job takes at once (one claim, their requests concurrent, outcomes
    # recorded together), and how long a finished attempt waits for others to record with.
    publish_batch: int = Field(default=25, ge=1, le=500)
    publish_flush_s: float = Field(default=0.05, ge=0, le=5)


class AnalyticsSettings(BaseModel):
    """Collecting published posts' metrics."""

    # --- analytics -----------------------------------------------------------------------------
    analytics_interval_s: float = Field(default=30.0, gt=0)
    analytics_batch: int = Field(default=100, ge=1, le=10_000)
    # Metrics are collected until a post is this old.
    analytics_max_age_days: int = Field(default=30, ge=1, le=3650)

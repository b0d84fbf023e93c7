"""Posts, their per-account targets, the media they carry, and templates.

A post is what a person writes once; each target is that post on one social account, with its own
text override, options and publishing state. The post's `status` is derived from its targets
(`posts.status.derive`) and stored so lists can filter on it through an index.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from t21.core.models import Base, RecordModel, enum_column

# The sort position of a post with no scheduled time: after every scheduled one.
UNSCHEDULED = datetime(9999, 12, 31, tzinfo=UTC)


class PostStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    PARTIALLY_PUBLISHED = "partially_published"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TargetStatus(StrEnum):
    DRAFT = "draft"
    # Scheduled by someone whose posts an admin approves first (the brand's `requires_approval`).
    PENDING_APPROVAL = "pending_approval"
    SCHEDULED = "scheduled"
    QUEUED = "queued"  # claimed by the dispatcher; a publish job is on its way
    PUBLISHING = "publishing"  # a worker holds it under a lease
    PUBLISHED = "published"
    RETRYING = "retrying"  # failed for now; due again at `due_at`
    FAILED = "failed"
    CANCELLED = "cancelled"
    # An attempt was cut off and the network couldn't say whether the post went out.
    NEEDS_REVIEW = "needs_review"


class Post(RecordModel):
    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_organization_id_sort", "organization_id", "sort_at", "created_at", "id"),
        Index(
            "ix_posts_organization_id_status_sort",
            "organization_id",
            "status",
            "sort_at",
            "created_at",
            "id",
        ),
        Index("ix_posts_brand_id_sort", "brand_id", "sort_at", "created_at", "id"),
        Index("ix_posts_brand_id_status_sort", "brand_id", "status", "sort_at", "created_at", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The API key that created the post (then `author_id` is null); null for a person's post.
    # No foreign key: keys are revoked, never deleted, except with their organization (and its
    # posts); a plain column is added to SQLite's table without rebuilding it.
    author_api_key_id: Mapped[uuid.UUID | None]
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[PostStatus] = mapped_column(
        enum_column(PostStatus, "post_status"), default=PostStatus.DRAFT
    )
    scheduled_at: Mapped[datetime | None]
    # `scheduled_at`, or `UNSCHEDULED`: lists order by it, so it is never null.
    sort_at: Mapped[datetime] = mapped_column(default=UNSCHEDULED)
    published_at: Mapped[datetime | None]
    # {model, prompt_tokens, completion_tokens} when the text came from the AI endpoints.
    ai: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The author and admins were told a target failed or needs review (once per post).
    problem_notified_at: Mapped[datetime | None]
    # Where the post stands with its approvers, `{status, decided_by, decided_at, comment}`
    # (t21.posts.approvals); null for a post that never needed approval.
    approval: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PostTarget(RecordModel):
    __tablename__ = "post_targets"
    __table_args__ = (
        UniqueConstraint("post_id", "social_account_id"),
        Index("ix_post_targets_post_id_platform", "post_id", "platform"),
        # The dispatcher's and the reaper's claims.
        Index("ix_post_targets_status_due_at", "status", "due_at"),
        Index("ix_post_targets_status_lease_expires_at", "status", "lease_expires_at"),
        Index("ix_post_targets_status_queued_at", "status", "queued_at"),
        # A publishing budget counts an account's recent posts.
        Index(
            "ix_post_targets_social_account_id_published_at", "social_account_id", "published_at"
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    # Null once the account is disconnected: the target's history stays.
    social_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("social_accounts.id", ondelete="SET NULL"), index=True
    )
    platform: Mapped[str] = mapped_column(String(32))
    # Overrides the post's content on this account when set.
    content: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[TargetStatus] = mapped_column(
        enum_column(TargetStatus, "post_target_status"), default=TargetStatus.DRAFT
    )
    # When the dispatcher should next pick it up (scheduled or retrying).
    due_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The publishing attempt that holds the target: since when, and until when.
    attempt_id: Mapped[str | None] = mapped_column(String(64))
    attempt_started_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    external_id: Mapped[str | None] = mapped_column(String(255))
    permalink: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    # When its metrics are next collected; null once collection has stopped (or before publishing).
    next_collect_at: Mapped[datetime | None] = mapped_column(index=True)
    # What an attempt left at the network for the next one to resume (a provider's
    # `Continuing.progress`, e.g. Instagram's media containers), with `for` the fingerprint
    # of the content it was made from; null when there is nothing to resume.
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The parts after the first of a thread, in order: [{content, media_ids}]; null without one.
    thread: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Each step of the publication already out at the network, in order of sending: the thread's
    # parts (`kind` "part", `position` 0 the first) and the first comment (`kind` "comment"),
    # each {kind, position, external_id, permalink, published_at}. Written in the same
    # transaction that ends the attempt which sent it, so a step once out is never sent again.
    steps: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class TargetReview(RecordModel):
    """A person's (or an API key's) word on a target in `needs_review`: whether it went out, and
    what T21 did about it. Kept as a history: a target retried into review again gets another."""

    __tablename__ = "target_reviews"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    target_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("post_targets.id", ondelete="CASCADE"), index=True
    )
    # "published", or "not_published" with `action` "retry" or "cancel".
    outcome: Mapped[str] = mapped_column(String(16))
    action: Mapped[str | None] = mapped_column(String(16))
    # Who decided (each null once that user or key is deleted).
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )


class PostMedia(Base):
    """The media of a post, in order."""

    __tablename__ = "post_media"

    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("media_assets.id", ondelete="CASCADE"), index=True
    )


class Template(RecordModel):
    """Reusable post text with declared `{{ variables }}`."""

    __tablename__ = "post_templates"
    __table_args__ = (
        UniqueConstraint("brand_id", "name"),
        Index("ix_post_templates_brand_id_id", "brand_id", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    variables: Mapped[list[str]] = mapped_column(JSON, default=list)

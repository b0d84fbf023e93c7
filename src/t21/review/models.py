"""Approval decisions on posts, and the review links that let someone without an account make one.

A decision is kept as a history: a post rejected, edited and approved has two. A review link is a
row only so it can be voided (an edit of its post deletes its links) and named in the decisions
made through it; the token itself is signed, never stored (`t21.review.tokens`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from t21.core.models import RecordModel


class ReviewLink(RecordModel):
    __tablename__ = "post_review_links"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime]


class ApprovalDecision(RecordModel):
    """Who approved or rejected a post, when, and why: a user, an API key, or a reviewer who
    gave their name through a review link."""

    __tablename__ = "post_approval_decisions"
    __table_args__ = (
        Index("ix_post_approval_decisions_post_id_created_at", "post_id", "created_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    # "approved" or "rejected".
    decision: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    # The link a reviewer without an account decided through (null once it is voided), and the
    # name they gave.
    review_link_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("post_review_links.id", ondelete="SET NULL")
    )
    reviewer_name: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)

"""Brands: what an organization posts as, with the voice its AI-written posts take."""

from __future__ import annotations

import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from t21.core.models import RecordModel


class Brand(RecordModel):
    __tablename__ = "brands"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    voice: Mapped[str | None] = mapped_column(Text)
    target_audience: Mapped[str | None] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(String(100))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    default_hashtags: Mapped[list[str]] = mapped_column(JSON, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    website: Mapped[str | None] = mapped_column(String(2048))
    # The weekly queue, `[{"day": "mon", "time": "09:00"}, ...]` in `timezone` (see t21.queue).
    queue_slots: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # Posts its members (and member-role keys) schedule wait for an admin's approval.
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)

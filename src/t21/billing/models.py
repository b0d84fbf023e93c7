"""Usage of an organization, one row per calendar month: counted as it happens, never reset (a
new month is a new row), so there is no reset job to miss and the history stays."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from t21.core.models import Base


class UsageCounter(Base):
    __tablename__ = "usage_counters"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    # The calendar month in UTC, "YYYY-MM".
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    published_posts: Mapped[int] = mapped_column(BigInteger, default=0)
    ai_credits: Mapped[int] = mapped_column(BigInteger, default=0)

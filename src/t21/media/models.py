"""Media assets: images and videos a brand's posts use, stored in the configured object storage.

The bytes live in storage under `storage_key` (never derived from the uploaded filename); the row
holds what was measured from them. A direct upload starts `pending` and becomes `ready` once the
object has been verified.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from t21.core.models import RecordModel, enum_column


class MediaStatus(StrEnum):
    PENDING = "pending"  # a direct upload was announced; the object isn't verified yet
    READY = "ready"


class MediaAsset(RecordModel):
    __tablename__ = "media_assets"
    __table_args__ = (
        Index("ix_media_assets_brand_id_id", "brand_id", "id"),
        Index("ix_media_assets_organization_id_status", "organization_id", "status"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # As the uploader named it: shown back, never used as a path.
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[MediaStatus] = mapped_column(
        enum_column(MediaStatus, "media_status"), default=MediaStatus.READY
    )
    storage_key: Mapped[str] = mapped_column(String(512), unique=True)
    thumbnail_key: Mapped[str | None] = mapped_column(String(512))
    # A pending direct upload not completed by then is abandoned (its row and object removed).
    upload_expires_at: Mapped[datetime | None]

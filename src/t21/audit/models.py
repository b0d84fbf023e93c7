"""One row per action that changed who or what can act for an organization, or removed its data.

Written in the action's own transaction, so an action that rolls back leaves no entry and one that
commits always has its entry. Rows keep the actor's name as it was, so the log still reads after
the person or the key is gone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from t21.core import clock
from t21.core.ids import uuid7
from t21.core.models import Base

AUDIT_ID_PREFIX = "aud_"


def new_audit_id() -> str:
    """`aud_` and a UUIDv7 in hex: time-ordered."""
    return AUDIT_ID_PREFIX + uuid7().hex


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_organization_id_at_id", "organization_id", "at", "id"),
        # The retention loop deletes by age across organizations.
        Index("ix_audit_entries_at", "at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=new_audit_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

"""The event log: one row per state change an app cares about, written in the change's own
transaction (an outbox), so there is no event without its change and no change without its event.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from t21.core import clock, tracing
from t21.core.ids import uuid7
from t21.core.models import Base

EVENT_ID_PREFIX = "evt_"


def new_event_id() -> str:
    """`evt_` and a UUIDv7 in hex: time-ordered, and the same id on every delivery."""
    return EVENT_ID_PREFIX + uuid7().hex


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_organization_id_created_at_id", "organization_id", "created_at", "id"),
        # The housekeeping loop deletes by age across organizations.
        Index("ix_events_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=new_event_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # The trace the event was recorded in (W3C `traceparent`), taken when the row is inserted,
    # however it is written (`record_event`, `record_events`), so each webhook delivery's span
    # continues it. NULL while tracing is off or outside any span.
    traceparent: Mapped[str | None] = mapped_column(String(55), default=tracing.current_traceparent)

"""What the event endpoints give."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field


class EventOut(BaseModel):
    id: str = Field(description="`evt_…`: the same in the list, the stream and every webhook.")
    type: str
    created_at: str = Field(description="RFC 3339 in UTC (`Z`).")
    organization_id: uuid.UUID
    data: dict[str, Any]


class EventList(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = None

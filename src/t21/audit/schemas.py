"""What the audit-log endpoints give."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class AuditActor(BaseModel):
    type: Literal["user", "api_key", "staff", "system"]
    id: str | None = Field(description="The user's or the key's id; null for `system`.")
    name: str | None = Field(description="Their name when they acted.")


class AuditTarget(BaseModel):
    type: str = Field(description="What was acted on: `member`, `api_key`, `social_account`, …")
    id: str | None


class AuditEntryOut(BaseModel):
    id: str = Field(description="`aud_…`")
    at: str = Field(description="RFC 3339 in UTC (`Z`).")
    actor: AuditActor
    action: str = Field(
        description="One of the catalogue in the README (`member.role_changed`, …)."
    )
    target: AuditTarget
    details: dict[str, Any]


class AuditLog(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = None

"""The audit log and the live event stream."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AuditSettings(BaseModel):
    """The audit log."""

    # --- audit log -----------------------------------------------------------------------------
    # How long an organization's audit entries are kept (days).
    audit_retention_days: int = Field(default=400, ge=1)


class EventSettings(BaseModel):
    """The live event stream."""

    # --- events (the live stream) --------------------------------------------------------------
    # A comment line on an idle stream this often, so proxies and clients know it is alive.
    events_heartbeat_s: float = Field(default=15.0, gt=0)
    # A stream reads the event table at least this often even without a wake-up (a wake-up lost
    # with Redis down costs this much delay, never an event).
    events_poll_s: float = Field(default=5.0, gt=0)
    # Each read looks back this far for events committed late (their transaction began before
    # the last one sent): longer than any transaction that records an event.
    events_lookback_s: float = Field(default=10.0, ge=0)

"""Webhook endpoints, one delivery per (event, endpoint), and one row per delivery attempt."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from t21.core.models import RecordModel, enum_column
from t21.events.models import Event

# An endpoint's `events` holding this receives every type.
ALL_EVENTS = "*"


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for (another) attempt at `due_at`
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # given up: out of time, or the endpoint was disabled


class WebhookEndpoint(RecordModel):
    __tablename__ = "webhook_endpoints"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    # Event types this endpoint receives, or `["*"]` for all of them (new types included).
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[EndpointStatus] = mapped_column(
        enum_column(EndpointStatus, "webhook_endpoint_status"), default=EndpointStatus.ENABLED
    )
    # Why it is disabled: "manual", or "failing" when T21 gave up on it.
    disabled_reason: Mapped[str | None] = mapped_column(String(16))
    # The signing secret (`whsec_…`), encrypted at rest like the social networks' tokens.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # During a rotation the previous secret signs too, until `previous_secret_expires_at`.
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    # The first failure since the last success; None while the endpoint answers.
    failing_since: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]


class WebhookDelivery(RecordModel):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # One delivery per (event, endpoint): the event id is the `webhook-id` of every attempt.
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_status_due_at", "status", "due_at"),
        Index("ix_webhook_deliveries_endpoint_id_status_id", "endpoint_id", "status", "id"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(
        String(40), ForeignKey(Event.id, ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus, "webhook_delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    # When the next attempt is due (pending only).
    due_at: Mapped[datetime | None]
    # Retries stop this long after this time (`webhook_retry_window_s`): the delivery's
    # creation, or the last retry asked for by hand.
    retrying_since: Mapped[datetime]
    # A claim: the worker holding `lease_token` sends it until `lease_expires_at`; after that
    # the delivery is due again (a worker that died or a job the broker lost).
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(RecordModel):
    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    succeeded: Mapped[bool]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    # The first bytes of the response body, for the delivery log.
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int]

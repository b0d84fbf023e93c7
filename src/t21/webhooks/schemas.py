"""What the webhook endpoints take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from t21.core.pagination import Page
from t21.webhooks.models import (
    ALL_EVENTS,
    DeliveryStatus,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
# The event types of the API contract (API.md, "Events and webhooks") an endpoint may ask for;
# `*` is every type, those added later included.
EVENT_TYPES = frozenset(
    {
        "post.created",
        "post.updated",
        "post.deleted",
        "post.scheduled",
        "post.published",
        "post.partially_published",
        "post.failed",
        "post.needs_review",
        "post.cancelled",
        "target.published",
        "target.retrying",
        "target.failed",
        "target.needs_review",
        "target.resolved",
        "post.approval_requested",
        "post.approved",
        "post.rejected",
        "social_account.connected",
        "social_account.reauth_required",
        "social_account.expiring",
        "social_account.disconnected",
        "subscription.updated",
        "usage.warning",
        "webhook.test",
    }
)


def _known_type(value: str) -> str:
    if value != ALL_EVENTS and value not in EVENT_TYPES:
        raise ValueError(f"{value!r} is not an event type (see the event catalogue), nor '*'")
    return value


EventType = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(_known_type)
]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: uuid.UUID | None = None
    url: Url
    events: EventTypes | None = Field(
        default=None, description='Event types to receive; default (or `["*"]`): all of them.'
    )
    description: Description | None = None


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    events: EventTypes | None = None
    description: Description | None = None
    status: EndpointStatus | None = None


class WebhookOut(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    status: EndpointStatus
    disabled_reason: str | None = Field(
        description='"manual", or "failing" when T21 gave up on it after the retry window.'
    )
    failing_since: datetime | None
    last_success_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookOut:
        return cls(
            id=endpoint.id,
            organization_id=endpoint.organization_id,
            url=endpoint.url,
            events=list(endpoint.events),
            description=endpoint.description,
            status=endpoint.status,
            disabled_reason=endpoint.disabled_reason,
            failing_since=endpoint.failing_since,
            last_success_at=endpoint.last_success_at,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="`whsec_<base64>`: shown only here and at rotation.")

    @classmethod
    def with_secret(cls, endpoint: WebhookEndpoint, secret: str) -> WebhookCreated:
        return cls(**WebhookOut.of(endpoint).model_dump(), secret=secret)


class SecretOut(BaseModel):
    secret: str = Field(description="The new `whsec_<base64>` secret, shown only now.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the previous secret signs too (space-separated signatures)."
    )


class WebhookList(Page[WebhookOut]):
    pass


class AttemptOut(BaseModel):
    id: uuid.UUID
    succeeded: bool
    status_code: int | None
    error: str | None
    response_excerpt: str | None
    duration_ms: int
    created_at: datetime

    @classmethod
    def of(cls, attempt: WebhookAttempt) -> AttemptOut:
        return cls(
            id=attempt.id,
            succeeded=attempt.succeeded,
            status_code=attempt.status_code,
            error=attempt.error,
            response_excerpt=attempt.response_excerpt,
            duration_ms=attempt.duration_ms,
            created_at=attempt.created_at,
        )


class DeliveryOut(BaseModel):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        pending = delivery.status is DeliveryStatus.PENDING
        return cls(
            id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            next_attempt_at=delivery.due_at if pending else None,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")


class DeliveryList(Page[DeliveryOut]):
    pass

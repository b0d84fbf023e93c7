"""Outbound webhooks: retries, timeouts, leases, secrets."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WebhookSettings(BaseModel):
    """Delivering outbound webhooks."""

    # --- webhooks out --------------------------------------------------------------------------
    # The first retry's delay; each later one doubles (with jitter) up to `webhook_retry_max_s`.
    webhook_retry_base_s: float = Field(default=30.0, gt=0)
    webhook_retry_max_s: float = Field(default=6 * 3600.0, gt=0)
    # How long a delivery is retried, and how long an endpoint may fail without one success
    # before it is disabled and the organization's owners are emailed (at least 3 days).
    webhook_retry_window_s: float = Field(default=3 * 24 * 3600.0, gt=0)
    # An answer must come (2xx) within this long to count as delivered.
    webhook_timeout_s: float = Field(default=15.0, gt=0, le=60)
    # A claimed delivery is another worker's to take after this long (a worker died).
    webhook_lease_s: float = Field(default=60.0, ge=5)
    # Deliveries in flight to one endpoint at once: a slow endpoint holds no more workers.
    webhook_max_in_flight: int = Field(default=4, ge=1, le=100)
    webhook_dispatch_interval_s: float = Field(default=1.0, gt=0)
    webhook_dispatch_batch: int = Field(default=200, ge=1, le=10_000)
    # After a secret rotation the previous secret signs too, for this long.
    webhook_secret_grace_s: float = Field(default=24 * 3600.0, ge=0)
    # How much of a response body the delivery log keeps.
    webhook_response_excerpt_bytes: int = Field(default=1024, ge=0, le=65_536)

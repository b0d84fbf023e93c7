"""Usage of an organization, one row per calendar month: counted as it happens, never reset (a
new month is a new row), so there is no reset job to miss and the history stays. And the
organization's Stripe customer and subscription, and the inbox of Stripe's webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from t21.core import clock
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
    # The highest usage warning (percent of the monthly quota: 0, 80 or 100) already sent for
    # the month, so each warning goes out once per period.
    published_posts_warned: Mapped[int] = mapped_column(Integer, default=0)
    ai_credits_warned: Mapped[int] = mapped_column(Integer, default=0)


class BillingAccount(Base):
    """An organization's side of Stripe: its customer, and its subscription as Stripe last
    described it. Organizations that never paid have no row; `Organization.tier` is what the
    limits read, and only the subscription's state (re-fetched from Stripe) moves it."""

    __tablename__ = "billing_accounts"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # Stripe's status (active, trialing, past_due, unpaid, canceled, …), or "none".
    status: Mapped[str] = mapped_column(String(32), default="none")
    price_id: Mapped[str | None] = mapped_column(String(255))
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    # When the state above was read from Stripe: a read that started earlier never overwrites it.
    synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class StripeEvent(Base):
    """The inbox of Stripe's webhooks: stored (insert-or-ignore by event id) before the 200,
    then processed once by a job, or by the loop that picks up any a lost job left behind."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    # The loop sends a job for an unprocessed event from then on (a job that was lost, a retry).
    not_before: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # One processor at a time: a claim holds the event until `claimed_until`.
    claim_token: Mapped[uuid.UUID | None]
    claimed_until: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_stripe_events_processed_at_not_before", "processed_at", "not_before"),
    )

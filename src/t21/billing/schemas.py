"""What the billing endpoints give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from t21.billing.plans import Plan
from t21.billing.subscriptions import SubscriptionView


class PlanOut(BaseModel):
    tier: str
    name: str
    price: int = Field(description="Per month, in minor units (pence).")
    currency: str
    limits: dict[str, int]
    ai_models: Literal["small", "all"]

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls(
            tier=plan.tier.value,
            name=plan.name,
            price=plan.price_minor,
            currency=plan.currency,
            limits={limit.value: value for limit, value in plan.limits.items()},
            ai_models=plan.ai_models,
        )


class PlanList(BaseModel):
    items: list[PlanOut]


class CheckoutIn(BaseModel):
    organization_id: uuid.UUID | None = Field(
        default=None, description="Default: the caller's personal organization."
    )
    tier: Literal["pro", "business"]
    success_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Where Stripe sends the browser after paying (the allow-list of redirects "
        "applies; may hold {CHECKOUT_SESSION_ID}). Default: the front end's /billing.",
    )
    cancel_url: str | None = Field(default=None, max_length=2048)


class CheckoutOut(BaseModel):
    checkout_url: str
    session_id: str


class OrganizationChoice(BaseModel):
    organization_id: uuid.UUID | None = Field(
        default=None, description="Default: the caller's personal organization."
    )


class PortalIn(OrganizationChoice):
    return_url: str | None = Field(default=None, max_length=2048)


class PortalOut(BaseModel):
    url: str


class SubscriptionOut(BaseModel):
    tier: str
    status: str = Field(
        description="Stripe's status of the subscription (active, trialing, past_due, "
        "canceled, …), or none when the organization never subscribed."
    )
    current_period_end: datetime | None
    cancel_at_period_end: bool
    limits: dict[str, int]
    usage: dict[str, int] = Field(description="What counts against each limit now.")

    @classmethod
    def of(cls, view: SubscriptionView) -> SubscriptionOut:
        return cls(
            tier=view.tier,
            status=view.status,
            current_period_end=view.current_period_end,
            cancel_at_period_end=view.cancel_at_period_end,
            limits=view.limits,
            usage=view.usage,
        )


class WebhookReceived(BaseModel):
    received: bool = True

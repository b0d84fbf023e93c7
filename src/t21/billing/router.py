"""`/api/v1/plans`, `/api/v1/subscriptions` and `/api/v1/webhooks/stripe`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Request

from t21.billing import subscriptions, webhooks
from t21.billing.plans import Tier, plans
from t21.billing.schemas import (
    CheckoutIn,
    CheckoutOut,
    OrganizationChoice,
    PlanList,
    PlanOut,
    PortalIn,
    PortalOut,
    SubscriptionOut,
    WebhookReceived,
)
from t21.core.deps import AppSettings, DbSession
from t21.core.routing import IDEMPOTENT, APIRouter
from t21.organizations.auth import CurrentPrincipal

plans_router = APIRouter(prefix="/plans", tags=["billing"])
subscriptions_router = APIRouter(prefix="/subscriptions", tags=["billing"])
webhooks_router = APIRouter(prefix="/webhooks", tags=["billing"])


@plans_router.get("")
async def list_plans(settings: AppSettings) -> PlanList:
    """The tiers, their monthly price and their limits (public)."""
    return PlanList(items=[PlanOut.of(plan) for plan in plans(settings).values()])


@subscriptions_router.post("/checkout", openapi_extra=IDEMPOTENT)
async def checkout(body: CheckoutIn, principal: CurrentPrincipal, request: Request) -> CheckoutOut:
    """A Stripe Checkout page selling Pro or Business to the organization (owners). The tier
    changes when Stripe confirms the payment (by webhook), not when the browser comes back."""
    url, session_id = await subscriptions.checkout(
        request.app.state.runtime,
        principal,
        subscriptions.default_organization(principal, body.organization_id),
        tier=Tier(body.tier),
        success_url=body.success_url,
        cancel_url=body.cancel_url,
    )
    return CheckoutOut(checkout_url=url, session_id=session_id)


@subscriptions_router.get("/current")
async def current(
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    organization_id: Annotated[
        uuid.UUID | None, Query(description="Default: the caller's personal organization.")
    ] = None,
) -> SubscriptionOut:
    """The organization's tier and subscription, its limits and what it uses (members)."""
    view = await subscriptions.current(
        session,
        settings,
        principal,
        subscriptions.default_organization(principal, organization_id, location="query"),
    )
    return SubscriptionOut.of(view)


@subscriptions_router.post("/cancel")
async def cancel(
    body: OrganizationChoice, principal: CurrentPrincipal, request: Request
) -> SubscriptionOut:
    """Cancel at the end of the paid period (owners); the tier stays until then."""
    view = await subscriptions.cancel(
        request.app.state.runtime,
        principal,
        subscriptions.default_organization(principal, body.organization_id),
    )
    return SubscriptionOut.of(view)


@subscriptions_router.post("/portal", openapi_extra=IDEMPOTENT)
async def portal(body: PortalIn, principal: CurrentPrincipal, request: Request) -> PortalOut:
    """A Stripe customer portal session, to change the plan, the card or cancel (owners)."""
    url = await subscriptions.portal(
        request.app.state.runtime,
        principal,
        subscriptions.default_organization(principal, body.organization_id),
        return_url=body.return_url,
    )
    return PortalOut(url=url)


@webhooks_router.post("/stripe")
async def stripe_webhook(request: Request) -> WebhookReceived:
    """Stripe's events, signed (`Stripe-Signature`); each is stored, then applied once, however
    often and in whatever order it arrives. A bad or stale signature: 400, nothing stored."""
    await webhooks.receive(
        request.app.state.runtime, await request.body(), request.headers.get("stripe-signature")
    )
    return WebhookReceived()

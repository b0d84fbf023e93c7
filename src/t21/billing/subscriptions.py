"""An organization's subscription: Checkout to start one, the portal to manage it, cancelling at
the period's end, and the one function that moves the organization's tier.

Stripe is the source of truth. T21 never replays what an event says changed: it reads the
subscription as Stripe holds it now and applies that (`apply_state`), and a read that started
before the one last applied is ignored, so events arriving late, twice or out of order can't
move a subscription backwards. Calls to Stripe happen outside any transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from stripe.params import CustomerCreateParams

from t21.audit import service as audit
from t21.audit.service import STRIPE, Actor
from t21.billing import plans
from t21.billing.models import BillingAccount
from t21.billing.plans import Tier
from t21.billing.stripe_gateway import StripeTarget, call, client, plain, target
from t21.core import clock
from t21.core.errors import Conflict, NotFound, Unavailable, UpstreamError, ValidationFailed
from t21.core.ids import uuid7
from t21.core.logging import get_logger
from t21.core.outside import Permanent, Retryable
from t21.core.redirects import allowed_redirect
from t21.core.runtime import Runtime, get_runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.events.service import record_event
from t21.organizations.models import Organization
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal

log = get_logger("t21.billing")

# The statuses in which the subscription's tier applies (past_due: Stripe is still retrying).
PAID_STATUSES = frozenset({"active", "trialing", "past_due"})
NO_SUBSCRIPTION = "none"
WEBHOOK_EVENTS = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
]


@dataclass(frozen=True)
class SubscriptionState:
    """What Stripe says a subscription is now."""

    subscription_id: str
    customer_id: str | None
    status: str
    price_id: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    metadata: dict[str, str]

    @classmethod
    def of(cls, subscription: dict[str, Any]) -> SubscriptionState:
        items = (subscription.get("items") or {}).get("data") or []
        first = items[0] if items else {}
        # Since API version 2025-03-31 the period is on each item; before, on the subscription.
        period_end = first.get("current_period_end") or subscription.get("current_period_end")
        customer = subscription.get("customer")
        if isinstance(customer, dict):
            customer = customer.get("id")
        return cls(
            subscription_id=str(subscription["id"]),
            customer_id=str(customer) if customer else None,
            status=str(subscription.get("status") or "incomplete"),
            price_id=(first.get("price") or {}).get("id"),
            current_period_end=(
                datetime.fromtimestamp(int(period_end), UTC) if period_end else None
            ),
            cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
            metadata={str(k): str(v) for k, v in (subscription.get("metadata") or {}).items()},
        )

    def tier(self, stripe_target: StripeTarget) -> Tier:
        """The tier this subscription gives: its price's, while it is paid for; else Free."""
        if self.status not in PAID_STATUSES:
            return Tier.FREE
        tier = stripe_target.tier_of_price(self.price_id)
        if tier is None and self.metadata.get("tier") in (Tier.PRO, Tier.BUSINESS):
            tier = Tier(self.metadata["tier"])
        if tier is None:
            log.warning("subscription with an unknown price", price_id=self.price_id)
            return Tier.FREE
        return tier


@dataclass(frozen=True)
class SubscriptionView:
    tier: str
    status: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    limits: dict[str, int]
    usage: dict[str, int]


def default_organization(
    principal: Principal, organization_id: uuid.UUID | None, *, location: str = "body"
) -> uuid.UUID:
    """The organization asked for, else the caller's personal one (or the API key's).
    `location`: where the request carries `organization_id` ("body" or "query"), which the
    422 entry names when it is missing and there is nothing to default to."""
    if organization_id is not None:
        return organization_id
    if principal.api_key is not None:
        return principal.api_key.organization_id
    if principal.personal_organization_id is None:
        message = "organization_id is required: you have no personal organization."
        raise ValidationFailed(
            message, errors=[{"loc": [location, "organization_id"], "msg": message}]
        )
    return principal.personal_organization_id


async def current(
    session: AsyncSession, settings: Settings, principal: Principal, organization_id: uuid.UUID
) -> SubscriptionView:
    """The organization's tier, subscription and usage against its limits (any member)."""
    principal.authorize(organization_id, Action.READ)
    organization = await session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("No such organization.")
    account = await session.get(BillingAccount, organization_id)
    return await _view(session, settings, organization, account)


async def _view(
    session: AsyncSession,
    settings: Settings,
    organization: Organization,
    account: BillingAccount | None,
) -> SubscriptionView:
    organization_id = organization.id
    plan = plans.plan_for(settings, organization.tier)
    usage = {
        limit.value: await plans.used(session, organization_id, limit) for limit in plans.Limit
    }
    return SubscriptionView(
        tier=plan.tier.value,
        status=account.status if account is not None else NO_SUBSCRIPTION,
        current_period_end=account.current_period_end if account is not None else None,
        cancel_at_period_end=account.cancel_at_period_end if account is not None else False,
        limits={limit.value: value for limit, value in plan.limits.items()},
        usage=usage,
    )


async def lock_account(session: AsyncSession, organization_id: uuid.UUID) -> BillingAccount:
    """The organization's billing row, created if missing, with the organization's row locked
    (PostgreSQL; SQLite's transactions are one writer at a time) until the transaction ends."""
    statement = select(Organization.id).where(Organization.id == organization_id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    if await session.scalar(statement) is None:
        raise NotFound("No such organization.")
    account = await session.get(BillingAccount, organization_id, populate_existing=True)
    if account is None:
        account = BillingAccount(organization_id=organization_id, status=NO_SUBSCRIPTION)
        session.add(account)
        await session.flush()
    return account


async def apply_state(
    session: AsyncSession,
    stripe_target: StripeTarget,
    organization_id: uuid.UUID,
    state: SubscriptionState,
    read_at: datetime,
) -> bool:
    """Make the organization's subscription and tier what Stripe said at `read_at`, unless a
    later read was applied already or another subscription is the one paying. True if applied."""
    account = await lock_account(session, organization_id)
    if account.synced_at is not None and read_at < account.synced_at:
        return False
    before = _shown(account)
    other = account.stripe_subscription_id not in (None, state.subscription_id)
    if other and account.status in PAID_STATUSES and state.status not in PAID_STATUSES:
        return False  # an old subscription ending doesn't end the one that replaced it
    account.stripe_subscription_id = state.subscription_id
    account.status = state.status
    account.price_id = state.price_id
    account.current_period_end = state.current_period_end
    account.cancel_at_period_end = state.cancel_at_period_end
    account.synced_at = read_at
    organization = await session.get(Organization, organization_id)
    assert organization is not None
    previous_tier = organization.tier
    tier = state.tier(stripe_target)
    if organization.tier != tier.value:
        log.info(
            "organization tier changed",
            organization_id=str(organization_id),
            tier=tier.value,
            previous=organization.tier,
            status=state.status,
        )
        organization.tier = tier.value
    await session.flush()
    if (account.status, organization.tier) != (before[0], previous_tier):
        await audit.record(
            session,
            organization_id=organization_id,
            actor=STRIPE,
            action="subscription.changed",
            target_type="subscription",
            target_id=state.subscription_id,
            details={
                "from": {"status": before[0], "tier": previous_tier},
                "to": {"status": account.status, "tier": organization.tier},
            },
        )
    if (*_shown(account), organization.tier) != (*before, previous_tier):
        # The answer's schema lives with the endpoints, which import this module.
        from t21.billing.schemas import SubscriptionOut

        view = await _view(session, get_runtime().settings, organization, account)
        await record_event(
            session,
            organization_id=organization_id,
            type="subscription.updated",
            data=SubscriptionOut.of(view).model_dump(mode="json"),
        )
    return True


def _shown(account: BillingAccount) -> tuple[Any, ...]:
    """What a subscription's answer shows of the billing row (a change here is an event)."""
    return (
        account.status,
        account.price_id,
        account.current_period_end,
        account.cancel_at_period_end,
    )


def _failed(failure: Retryable | Permanent) -> Exception:
    if isinstance(failure, Retryable):
        return Unavailable(failure.message)
    return UpstreamError(f"Stripe refused the request: {failure.message}")


async def _customer(
    runtime: Runtime, stripe_target: StripeTarget, principal: Principal, organization_id: uuid.UUID
) -> str:
    """The organization's Stripe customer, created once (the idempotency key is the
    organization's, so concurrent first calls get the same customer)."""
    async with session_scope(runtime) as session:
        account = await session.get(BillingAccount, organization_id)
        organization = await session.get(Organization, organization_id)
        if organization is None:
            raise NotFound("No such organization.")
        if account is not None and account.stripe_customer_id is not None:
            return account.stripe_customer_id
        name = organization.name
    params: CustomerCreateParams = {
        "name": name,
        "metadata": {"organization_id": str(organization_id)},
    }
    if principal.user is not None:
        params["email"] = principal.user.email
    try:
        async with client(stripe_target) as stripe_client:
            customer = await call(
                stripe_client.v1.customers.create_async(
                    params, {"idempotency_key": f"t21-customer-{organization_id}"}
                )
            )
    except (Retryable, Permanent) as failure:
        raise _failed(failure) from failure
    async with session_scope(runtime) as session:
        account = await lock_account(session, organization_id)
        if account.stripe_customer_id is None:
            account.stripe_customer_id = customer.id
        return account.stripe_customer_id


async def _register_sandbox_endpoint(runtime: Runtime, stripe_target: StripeTarget) -> None:
    """Tell the sandbox's Stripe where T21's webhook endpoint is (real Stripe is set up once,
    in its dashboard, with the endpoint's signing secret in T21_STRIPE_WEBHOOK_SECRETS)."""
    url = f"{runtime.settings.resolved_public_url}/api/v1/webhooks/stripe"
    async with client(stripe_target) as stripe_client:
        await call(
            stripe_client.v1.webhook_endpoints.create_async(
                {"url": url, "enabled_events": WEBHOOK_EVENTS},  # type: ignore[typeddict-item]
                {"idempotency_key": f"t21-endpoint-{url}"},
            )
        )


async def checkout(
    runtime: Runtime,
    principal: Principal,
    organization_id: uuid.UUID,
    *,
    tier: Tier,
    success_url: str | None,
    cancel_url: str | None,
) -> tuple[str, str]:
    """A Stripe Checkout Session selling `tier` to the organization (owners): its URL and id.
    Nothing changes here: the tier moves when Stripe's webhooks say the payment went through."""
    principal.authorize(organization_id, Action.MANAGE_BILLING)
    settings = runtime.settings
    stripe_target = target(runtime)
    price = stripe_target.prices.get(tier)
    if price is None:
        raise Unavailable(
            f"The {tier.value} plan isn't for sale on this server: an operator must set "
            f"T21_STRIPE_PRICE_{tier.value.upper()}."
        )
    billing_page = f"{settings.resolved_frontend_url}/billing"
    success = (
        allowed_redirect(settings, success_url, field="success_url")
        if success_url is not None
        else f"{billing_page}?checkout=success&session_id={{CHECKOUT_SESSION_ID}}"
    )
    cancel = (
        allowed_redirect(settings, cancel_url, field="cancel_url")
        if cancel_url is not None
        else f"{billing_page}?checkout=cancelled"
    )
    async with session_scope(runtime) as session:
        account = await session.get(BillingAccount, organization_id)
        if account is not None and account.status in PAID_STATUSES:
            raise Conflict(
                "This organization already has a subscription; change or cancel it in the "
                "billing portal (POST /api/v1/subscriptions/portal)."
            )
    customer = await _customer(runtime, stripe_target, principal, organization_id)
    metadata = {"organization_id": str(organization_id), "tier": tier.value}
    try:
        if stripe_target.sandbox:
            await _register_sandbox_endpoint(runtime, stripe_target)
        async with client(stripe_target) as stripe_client:
            session_object = await call(
                stripe_client.v1.checkout.sessions.create_async(
                    {
                        "mode": "subscription",
                        "customer": customer,
                        "client_reference_id": str(organization_id),
                        "line_items": [{"price": price, "quantity": 1}],
                        "success_url": success,
                        "cancel_url": cancel,
                        "metadata": metadata,
                        "subscription_data": {"metadata": metadata},
                    },
                    {"idempotency_key": f"t21-checkout-{uuid7()}"},
                )
            )
    except (Retryable, Permanent) as failure:
        raise _failed(failure) from failure
    if session_object.url is None:
        raise UpstreamError("Stripe gave no checkout URL.")
    return session_object.url, session_object.id


async def portal(
    runtime: Runtime,
    principal: Principal,
    organization_id: uuid.UUID,
    *,
    return_url: str | None,
) -> str:
    """A Stripe customer portal session for the organization (owners): its URL."""
    principal.authorize(organization_id, Action.MANAGE_BILLING)
    settings = runtime.settings
    back = (
        allowed_redirect(settings, return_url, field="return_url")
        if return_url is not None
        else f"{settings.resolved_frontend_url}/billing"
    )
    stripe_target = target(runtime)
    customer = await _customer(runtime, stripe_target, principal, organization_id)
    try:
        async with client(stripe_target) as stripe_client:
            portal_session = await call(
                stripe_client.v1.billing_portal.sessions.create_async(
                    {"customer": customer, "return_url": back},
                    {"idempotency_key": f"t21-portal-{uuid7()}"},
                )
            )
    except (Retryable, Permanent) as failure:
        raise _failed(failure) from failure
    return portal_session.url


async def cancel(
    runtime: Runtime, principal: Principal, organization_id: uuid.UUID
) -> SubscriptionView:
    """Cancel the organization's subscription at the end of the period it paid for (owners);
    the tier stays until then, when Stripe deletes the subscription. Cancelling twice is
    harmless. The subscription as it is now."""
    principal.authorize(organization_id, Action.MANAGE_BILLING)
    stripe_target = target(runtime)
    async with session_scope(runtime) as session:
        account = await session.get(BillingAccount, organization_id)
        if (
            account is None
            or account.stripe_subscription_id is None
            or account.status not in PAID_STATUSES
        ):
            raise Conflict("This organization has no paid subscription to cancel.")
        if account.cancel_at_period_end:
            return await current(session, runtime.settings, principal, organization_id)
        subscription_id = account.stripe_subscription_id
    read_at = clock.now()
    try:
        async with client(stripe_target) as stripe_client:
            subscription = await call(
                stripe_client.v1.subscriptions.update_async(
                    subscription_id,
                    {"cancel_at_period_end": True},
                    {"idempotency_key": f"t21-cancel-{uuid7()}"},
                )
            )
    except (Retryable, Permanent) as failure:
        raise _failed(failure) from failure
    async with session_scope(runtime) as session:
        state = SubscriptionState.of(plain(subscription))
        await apply_state(session, stripe_target, organization_id, state, read_at)
        await audit.record(
            session,
            organization_id=organization_id,
            actor=Actor.of(principal),
            action="subscription.cancellation_requested",
            target_type="subscription",
            target_id=subscription_id,
            details={"ends_at": str(state.current_period_end or "")},
        )
        return await current(session, runtime.settings, principal, organization_id)

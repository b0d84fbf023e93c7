"""Whatever order Stripe's events arrive in, however often and however late, the organization
ends on the tier and status of the subscription as Stripe finally holds it."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from t21.billing.models import BillingAccount
from t21.core.uow import session_scope
from t21.organizations.models import Organization
from t21.sandbox import stripe as sandbox_stripe
from tests.billing.conftest import Billing

PAID = {"active", "trialing", "past_due"}
TIER_OF_PRICE = {sandbox_stripe.PRICE_PRO: "pro", sandbox_stripe.PRICE_BUSINESS: "business"}

# What can happen at Stripe, and what can happen on the way to T21.
changes = st.sampled_from(
    ["upgrade", "downgrade", "fail_payment", "pay", "cancel", "resume", "end_period", "delete"]
)
deliveries = st.tuples(st.just("deliver"), st.integers(0, 1000), st.integers(1, 3))
steps = st.lists(
    st.one_of(changes.map(lambda c: (c, 0, 0)), deliveries, st.just(("settle", 0, 0))),
    max_size=14,
)


async def new_subscription(billing: Billing) -> tuple[uuid.UUID, str]:
    organization_id = uuid.uuid4()
    customer = await billing.stripe_api("POST", "/customers", {"name": "Property"})
    async with session_scope(billing.runtime) as session:
        session.add(
            Organization(id=organization_id, name="Property", slug=f"p-{organization_id.hex}")
        )
        await session.flush()
        session.add(
            BillingAccount(organization_id=organization_id, stripe_customer_id=customer["id"])
        )
    subscription = await billing.control(
        "/subscriptions", {"customer": customer["id"], "price": sandbox_stripe.PRICE_PRO}
    )
    return organization_id, subscription["id"]


async def change(billing: Billing, subscription_id: str, what: str) -> None:
    found = billing.stripe.subscriptions[subscription_id]
    if found["status"] == "canceled":
        return
    prices = {"upgrade": sandbox_stripe.PRICE_BUSINESS, "downgrade": sandbox_stripe.PRICE_PRO}
    if what in prices:
        await billing.stripe_api(
            "POST", f"/subscriptions/{subscription_id}", {"items[0][price]": prices[what]}
        )
    elif what in ("cancel", "resume"):
        flag = "true" if what == "cancel" else "false"
        await billing.stripe_api(
            "POST", f"/subscriptions/{subscription_id}", {"cancel_at_period_end": flag}
        )
    else:
        await billing.control(f"/subscriptions/{subscription_id}/{what}")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps, final_order=st.randoms(use_true_random=False), late_copies=st.integers(1, 2))
async def test_the_final_tier_and_status_are_stripes_whatever_the_delivery(
    billing: Billing, plan: list[tuple[str, int, int]], final_order: Any, late_copies: int
) -> None:
    await billing.control("/webhooks", {"hold": True})
    start = len(billing.stripe.events)
    organization_id, subscription_id = await new_subscription(billing)
    delivered: set[str] = set()

    async def deliver(event: dict[str, Any], copies: int) -> None:
        for _ in range(copies):
            response = await billing.deliver(event)
            assert response.status_code == 200, response.text
        delivered.add(event["id"])

    for what, pick, copies in plan:
        emitted = billing.stripe.events[start:]
        if what == "deliver":
            await deliver(emitted[pick % len(emitted)], copies)
        elif what == "settle":
            await billing.drain()
        else:
            await change(billing, subscription_id, what)
    # Stripe keeps sending until each event is acknowledged; some arrive again, late.
    rest = [event for event in billing.stripe.events[start:] if event["id"] not in delivered]
    final_order.shuffle(rest)
    for event in rest:
        await deliver(event, 1)
    again = list(billing.stripe.events[start:])
    final_order.shuffle(again)
    for event in again[: len(again) // 2]:
        await deliver(event, late_copies)
    await billing.drain()

    truth = billing.stripe.subscriptions[subscription_id]
    expected_tier = (
        TIER_OF_PRICE[truth["items"]["data"][0]["price"]["id"]]
        if truth["status"] in PAID
        else "free"
    )
    async with session_scope(billing.runtime) as session:
        organization = await session.get(Organization, organization_id)
        account = await session.get(BillingAccount, organization_id)
        assert organization is not None
        assert account is not None
        assert organization.tier == expected_tier
        assert account.status == truth["status"]
        assert account.cancel_at_period_end == truth["cancel_at_period_end"]
        assert account.stripe_subscription_id == subscription_id

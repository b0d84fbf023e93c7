"""A webhook can't move one organization's subscription onto another, and the sandbox's public
signing secret is worth nothing once real Stripe is configured."""

from __future__ import annotations

import json
from typing import Any

import pytest

from t21.billing.models import BillingAccount, StripeEvent
from t21.core.uow import session_scope
from t21.sandbox import stripe as sandbox_stripe
from tests.billing.conftest import Billing
from tests.billing.test_subscriptions import CHECKOUT, subscribe
from tests.support.accounts import Account, register

CANCEL = "/api/v1/subscriptions/cancel"


async def _own_customer(billing: Billing, account: Account) -> str:
    """The Stripe customer T21 creates for the account's organization when it starts Checkout."""
    started = await billing.api.post(CHECKOUT, json={"tier": "pro"}, headers=account.headers)
    assert started.status_code == 200, started.text
    customer: str = billing.stripe.sessions[started.json()["session_id"]]["customer"]
    return customer


async def _account_row(billing: Billing, account: Account) -> BillingAccount | None:
    async with session_scope(billing.runtime) as session:
        return await session.get(BillingAccount, account.personal_organization_id)


@pytest.mark.parametrize("claimed_customer", ["attackers", "forged", "victims", None])
async def test_a_checkout_event_naming_another_organizations_subscription_changes_nothing(
    billing: Billing, claimed_customer: str | None
) -> None:
    victim = billing.owner
    subscription = await subscribe(billing, "business")
    victim_before = await billing.current(victim)
    attacker = await register(billing.api)
    attackers_customer = await _own_customer(billing, attacker)
    customers = {
        "attackers": attackers_customer,
        "forged": "cus_forged0000",
        "victims": subscription["customer"],
        None: None,
    }
    forged: dict[str, Any] = {
        "id": "evt_forged_checkout",
        "object": "event",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": "cs_forged",
                "object": "checkout.session",
                "mode": "subscription",
                "status": "complete",
                "client_reference_id": str(attacker.personal_organization_id),
                "customer": customers[claimed_customer],
                "subscription": subscription["id"],
                "metadata": {"organization_id": str(attacker.personal_organization_id)},
            }
        },
    }
    assert (await billing.deliver(forged)).status_code == 200
    await billing.drain()

    attacker_now = await billing.current(attacker)
    assert (attacker_now["tier"], attacker_now["status"]) == ("free", "none")
    attacker_row = await _account_row(billing, attacker)
    assert attacker_row is not None
    assert attacker_row.stripe_subscription_id is None
    assert attacker_row.stripe_customer_id == attackers_customer
    assert await billing.current(victim) == victim_before
    victim_row = await _account_row(billing, victim)
    assert victim_row is not None
    assert victim_row.stripe_customer_id == subscription["customer"]
    async with session_scope(billing.runtime) as session:
        event = await session.get(StripeEvent, "evt_forged_checkout")
        assert event is not None
        assert event.processed_at is not None
        assert (event.last_error or "").startswith("ignored: ")

    refused = await billing.api.post(CANCEL, json={}, headers=attacker.headers)
    assert refused.status_code == 409
    assert billing.stripe.subscriptions[subscription["id"]]["cancel_at_period_end"] is False
    assert (await billing.current(victim))["tier"] == "business"


async def test_a_subscription_event_whose_metadata_names_another_organization_is_ignored(
    billing: Billing,
) -> None:
    subscription = await subscribe(billing, "pro")
    attacker = await register(billing.api)
    await _own_customer(billing, attacker)
    forged = {
        "id": "evt_forged_update",
        "object": "event",
        "type": "customer.subscription.updated",
        "data": {
            "object": subscription
            | {"metadata": {"organization_id": str(attacker.personal_organization_id)}}
        },
    }
    assert (await billing.deliver(forged)).status_code == 200
    await billing.drain()
    assert (await billing.current(attacker))["tier"] == "free"
    assert (await billing.current())["tier"] == "pro"


async def test_a_subscription_of_no_customer_of_ours_is_recorded_and_ignored(
    billing: Billing,
) -> None:
    stranger = (await billing.stripe_api("POST", "/customers", {"name": "Someone else"}))["id"]
    subscription = await billing.control(
        "/subscriptions", {"customer": stranger, "price": sandbox_stripe.PRICE_BUSINESS}
    )
    forged = {
        "id": "evt_strangers_checkout",
        "object": "event",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": "cs_x",
                "object": "checkout.session",
                "client_reference_id": str(billing.owner.personal_organization_id),
                "customer": stranger,
                "subscription": subscription["id"],
            }
        },
    }
    assert (await billing.deliver(forged)).status_code == 200
    await billing.drain()
    body = await billing.current()
    assert (body["tier"], body["status"]) == ("free", "none")
    assert await _account_row(billing, billing.owner) is None


async def test_with_real_stripe_configured_the_sandbox_secret_signs_nothing(
    app_factory: Any, stripe_sandbox: str
) -> None:
    import httpx

    app = app_factory(
        sandbox_url=stripe_sandbox,
        stripe_api_key="sk_test_real_account",
        stripe_api_base=f"{stripe_sandbox}/stripe",
        stripe_webhook_secrets="whsec_real_endpoint,whsec_t21_sandbox",
    )
    event = {"id": "evt_1", "object": "event", "type": "customer.created", "data": {}}
    body = json.dumps(event).encode()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:

            async def deliver(secret: str) -> httpx.Response:
                signature = sandbox_stripe.sign(body, secret)
                return await api.post(
                    "/api/v1/webhooks/stripe",
                    content=body,
                    headers={"Content-Type": "application/json", "Stripe-Signature": signature},
                )

            refused = await deliver(sandbox_stripe.WEBHOOK_SECRET)
            assert refused.status_code == 400
            assert refused.headers["content-type"].startswith("application/problem+json")
            async with session_scope(app.state.runtime) as session:
                assert await session.get(StripeEvent, "evt_1") is None
            accepted = await deliver("whsec_real_endpoint")
            assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize(
    "header",
    [
        "t=1700000000,v1=" + "é" * 64,
        "t=²³,v1=" + "0" * 64,
        "t=١٧٠٠٠٠٠٠٠٠,v1=" + "0" * 64,
    ],
)
async def test_a_signature_header_of_non_ascii_characters_is_a_400_not_a_500(
    billing: Billing, header: str
) -> None:
    body = json.dumps({"id": "evt_odd", "object": "event", "type": "customer.updated"}).encode()
    response = await billing.api.post(
        "/api/v1/webhooks/stripe",
        content=body,
        headers={b"Stripe-Signature": header.encode("utf-8")},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "bad_request"

"""Subscriptions through Stripe (the sandbox's, over HTTP): Checkout and the portal for owners,
the current plan for members, cancelling at the period's end, and webhooks that are verified,
stored once and applied once."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update

from t21.billing.models import BillingAccount, StripeEvent
from t21.core import clock
from t21.core.uow import session_scope
from t21.organizations.models import Organization
from t21.sandbox import stripe as sandbox_stripe
from tests.billing.conftest import FRONT_END, Billing
from tests.support.accounts import add_member, create_api_key, emails_to, register

CHECKOUT = "/api/v1/subscriptions/checkout"


async def subscribe(billing: Billing, tier: str = "pro") -> dict[str, Any]:
    """A paid subscription for the owner's personal organization, its events delivered."""
    response = await billing.api.post(CHECKOUT, json={"tier": tier}, headers=billing.owner.headers)
    assert response.status_code == 200, response.text
    customer = billing.stripe.sessions[response.json()["session_id"]]["customer"]
    price = sandbox_stripe.PRICE_PRO if tier == "pro" else sandbox_stripe.PRICE_BUSINESS
    subscription: dict[str, Any] = await billing.control(
        "/subscriptions", {"customer": customer, "price": price}
    )
    await deliver_all(billing)
    return subscription


async def deliver_all(billing: Billing, start: int = 0) -> None:
    for event in billing.stripe.events[start:]:
        assert (await billing.deliver(event)).status_code == 200
    await billing.drain()


async def set_tier(billing: Billing, tier: str) -> None:
    async with session_scope(billing.runtime) as session:
        await session.execute(
            update(Organization)
            .where(Organization.id == billing.owner.personal_organization_id)
            .values(tier=tier)
        )


async def stored_events(billing: Billing) -> int:
    async with session_scope(billing.runtime) as session:
        return int(await session.scalar(select(func.count()).select_from(StripeEvent)) or 0)


async def test_a_free_organization_reads_its_plan_and_usage(billing: Billing) -> None:
    await billing.api.post("/api/v1/brands", json={"name": "A"}, headers=billing.owner.headers)
    body = await billing.current()
    assert body["tier"] == "free"
    assert body["status"] == "none"
    assert body["current_period_end"] is None
    assert body["cancel_at_period_end"] is False
    assert body["limits"]["brands"] == 1
    assert body["usage"] == {
        "brands": 1,
        "social_accounts": 0,
        "published_posts": 0,
        "ai_credits": 0,
        "seats": 1,
    }


async def test_checkout_is_a_stripe_page_selling_the_tier_to_owners_only(
    billing: Billing,
) -> None:
    owner = billing.owner
    organization_id = owner.personal_organization_id
    response = await billing.api.post(
        CHECKOUT,
        json={"tier": "business", "organization_id": str(organization_id)},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["checkout_url"].startswith(f"{billing.sandbox}/stripe/checkout/")
    session = billing.stripe.sessions[body["session_id"]]
    assert session["_price"] == sandbox_stripe.PRICE_BUSINESS
    assert session["client_reference_id"] == str(organization_id)
    assert session["success_url"].startswith(f"{FRONT_END}/billing")
    assert session["_subscription_metadata"]["organization_id"] == str(organization_id)
    # The tier moves only when Stripe says the payment went through.
    assert (await billing.current())["tier"] == "free"

    await set_tier(billing, "business")  # room for an admin
    admin = await add_member(
        billing.api,
        billing.runtime.jobs,  # type: ignore[arg-type]
        billing.runtime.settings,
        inviter=owner,
        organization_id=organization_id,
        role="admin",
    )
    refused = await billing.api.post(
        CHECKOUT,
        json={"tier": "pro", "organization_id": str(organization_id)},
        headers=admin.headers,
    )
    assert refused.status_code == 403
    assert (await billing.current(admin, organization_id))["tier"] == "business"
    key = await create_api_key(billing.api, owner, organization_id, role="owner")
    by_key = await billing.api.post(
        CHECKOUT, json={"tier": "pro"}, headers={"Authorization": f"Bearer {key['key']}"}
    )
    assert by_key.status_code == 403


async def test_one_stripe_customer_per_organization(billing: Billing) -> None:
    for tier in ("pro", "business", "pro"):
        response = await billing.api.post(
            CHECKOUT, json={"tier": tier}, headers=billing.owner.headers
        )
        assert response.status_code == 200, response.text
    portal = await billing.api.post(
        "/api/v1/subscriptions/portal", json={}, headers=billing.owner.headers
    )
    assert portal.status_code == 200, portal.text
    assert portal.json()["url"].startswith(f"{billing.sandbox}/stripe/portal/")
    assert len(billing.stripe.customers) == 1
    [customer] = billing.stripe.customers.values()
    assert customer["metadata"] == {"organization_id": str(billing.owner.personal_organization_id)}


async def test_redirects_must_be_on_the_allow_list(billing: Billing) -> None:
    for field in ("success_url", "cancel_url"):
        response = await billing.api.post(
            CHECKOUT,
            json={"tier": "pro", field: "https://evil.example/steal"},
            headers=billing.owner.headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", field]
    allowed = await billing.api.post(
        CHECKOUT,
        json={"tier": "pro", "success_url": f"{FRONT_END}/done?s={{CHECKOUT_SESSION_ID}}"},
        headers=billing.owner.headers,
    )
    assert allowed.status_code == 200, allowed.text


async def test_a_paid_subscription_raises_the_limits_and_a_second_checkout_is_refused(
    billing: Billing,
) -> None:
    subscription = await subscribe(billing, "pro")
    body = await billing.current()
    assert (body["tier"], body["status"]) == ("pro", "active")
    assert body["limits"]["brands"] == 5
    assert body["current_period_end"] is not None
    again = await billing.api.post(
        CHECKOUT, json={"tier": "business"}, headers=billing.owner.headers
    )
    assert again.status_code == 409
    async with session_scope(billing.runtime) as session:
        account = await session.get(BillingAccount, billing.owner.personal_organization_id)
        assert account is not None
        assert account.stripe_subscription_id == subscription["id"]


async def test_cancel_is_at_the_period_end_then_deletion_drops_to_free_keeping_everything(
    billing: Billing,
) -> None:
    subscription = await subscribe(billing, "pro")
    for name in ("One", "Two", "Three"):
        created = await billing.api.post(
            "/api/v1/brands", json={"name": name}, headers=billing.owner.headers
        )
        assert created.status_code == 201, created.text
    cancelled = await billing.api.post(
        "/api/v1/subscriptions/cancel", json={}, headers=billing.owner.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["tier"], cancelled.json()["cancel_at_period_end"]) == ("pro", True)
    assert billing.stripe.subscriptions[subscription["id"]]["cancel_at_period_end"] is True
    twice = await billing.api.post(
        "/api/v1/subscriptions/cancel", json={}, headers=billing.owner.headers
    )
    assert twice.status_code == 200

    seen = len(billing.stripe.events)
    await billing.control(f"/subscriptions/{subscription['id']}/end_period")
    await deliver_all(billing, seen)
    body = await billing.current()
    assert (body["tier"], body["status"]) == ("free", "canceled")
    brands = await billing.api.get("/api/v1/brands", headers=billing.owner.headers)
    assert len(brands.json()["items"]) == 3
    refused = await billing.api.post(
        "/api/v1/brands", json={"name": "Four"}, headers=billing.owner.headers
    )
    assert refused.status_code == 402
    assert (refused.json()["used"], refused.json()["allowed"]) == (3, 1)
    nothing_to_cancel = await billing.api.post(
        "/api/v1/subscriptions/cancel", json={}, headers=billing.owner.headers
    )
    assert nothing_to_cancel.status_code == 409


Delivery = Callable[[Billing, dict[str, Any]], Awaitable[httpx.Response]]


async def _stale(billing: Billing, event: dict[str, Any]) -> httpx.Response:
    return await billing.deliver(event, timestamp=int(time.time()) - 305)


async def _future(billing: Billing, event: dict[str, Any]) -> httpx.Response:
    return await billing.deliver(event, timestamp=int(time.time()) + 305)


async def _wrong_secret(billing: Billing, event: dict[str, Any]) -> httpx.Response:
    return await billing.deliver(event, secret="whsec_someone_else")


async def _unsigned(billing: Billing, event: dict[str, Any]) -> httpx.Response:
    return await billing.api.post("/api/v1/webhooks/stripe", content=json.dumps(event).encode())


async def _garbled(billing: Billing, event: dict[str, Any]) -> httpx.Response:
    return await billing.api.post(
        "/api/v1/webhooks/stripe",
        content=json.dumps(event).encode(),
        headers={"Stripe-Signature": "t=abc,v1=zz,v0=" + "0" * 64},
    )


async def _tampered(billing: Billing, event: dict[str, Any]) -> httpx.Response:
    body = json.dumps(event).encode()
    return await billing.api.post(
        "/api/v1/webhooks/stripe",
        content=body.replace(b"canceled", b"active"),
        headers={"Stripe-Signature": sandbox_stripe.sign(body, sandbox_stripe.WEBHOOK_SECRET)},
    )


async def _cancelled_subscription_event(billing: Billing) -> dict[str, Any]:
    """A Pro subscription, and the (undelivered) event Stripe sends when it is deleted."""
    subscription = await subscribe(billing, "pro")
    seen = len(billing.stripe.events)
    await billing.control(f"/subscriptions/{subscription['id']}/delete")
    [deleted] = billing.stripe.events[seen:]
    assert b"canceled" in json.dumps(deleted).encode()
    return deleted


async def _refused_and_nothing_changed(billing: Billing, delivery: Delivery) -> None:
    event = await _cancelled_subscription_event(billing)
    before = await stored_events(billing)
    response = await delivery(billing, event)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "bad_request"
    await billing.drain()
    assert await stored_events(billing) == before
    assert (await billing.current())["tier"] == "pro"


async def test_a_signature_older_than_five_minutes_is_refused(billing: Billing) -> None:
    await _refused_and_nothing_changed(billing, _stale)


async def test_a_signature_five_minutes_ahead_is_refused(billing: Billing) -> None:
    await _refused_and_nothing_changed(billing, _future)


async def test_a_signature_with_another_secret_is_refused(billing: Billing) -> None:
    await _refused_and_nothing_changed(billing, _wrong_secret)


async def test_an_unsigned_event_is_refused(billing: Billing) -> None:
    await _refused_and_nothing_changed(billing, _unsigned)


async def test_a_garbled_signature_header_is_refused(billing: Billing) -> None:
    await _refused_and_nothing_changed(billing, _garbled)


async def test_a_body_changed_after_signing_is_refused(billing: Billing) -> None:
    await _refused_and_nothing_changed(billing, _tampered)


async def test_the_same_event_well_signed_is_applied(billing: Billing) -> None:
    # The cases above are refused for their signature alone: signed right, the event goes in.
    event = await _cancelled_subscription_event(billing)
    assert (await billing.deliver(event)).status_code == 200
    await billing.drain()
    assert (await billing.current())["tier"] == "free"


async def test_every_configured_secret_is_accepted_while_rotating(
    app_factory: Any, stripe_sandbox: str
) -> None:
    app = app_factory(
        sandbox_url=stripe_sandbox,
        stripe_webhook_secrets="whsec_new,whsec_old",
    )
    event = {"id": "evt_rotation", "object": "event", "type": "customer.created", "data": {}}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
            for n, secret in enumerate(("whsec_new", "whsec_old")):
                event["id"] = f"evt_rotation_{n}"
                body = json.dumps(event).encode()
                response = await api.post(
                    "/api/v1/webhooks/stripe",
                    content=body,
                    headers={"Stripe-Signature": sandbox_stripe.sign(body, secret)},
                )
                assert response.status_code == 200, response.text


async def test_a_duplicate_delivery_is_stored_and_applied_once(billing: Billing) -> None:
    await subscribe(billing, "pro")
    before = await stored_events(billing)
    for event in billing.stripe.events:
        assert (await billing.deliver(event)).status_code == 200
    await billing.drain()
    assert await stored_events(billing) == before == len(billing.stripe.events)


async def test_a_failed_payment_emails_each_owner_once_and_keeps_the_tier_while_stripe_retries(
    billing: Billing,
) -> None:
    subscription = await subscribe(billing, "business")
    seen = len(billing.stripe.events)
    await billing.control(f"/subscriptions/{subscription['id']}/fail_payment")
    new = billing.stripe.events[seen:]
    assert [event["type"] for event in new] == [
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]
    for event in (*new, new[0], new[0]):
        assert (await billing.deliver(event)).status_code == 200
    await billing.drain()
    body = await billing.current()
    assert (body["tier"], body["status"]) == ("business", "past_due")
    messages = [
        message
        for message in emails_to(billing.runtime.settings, billing.owner.email)
        if "payment" in str(message["Subject"]).lower()
    ]
    assert len(messages) == 1
    assert "Business" in str(messages[0]["Subject"])
    assert f"{FRONT_END}/billing" in str(messages[0].get_body(preferencelist=("plain",)))

    seen = len(billing.stripe.events)
    await billing.control(f"/subscriptions/{subscription['id']}/pay")
    await deliver_all(billing, seen)
    assert (await billing.current())["status"] == "active"


async def test_an_event_whose_job_was_lost_is_processed_by_the_loop(billing: Billing) -> None:
    subscription = await subscribe(billing, "pro")
    seen = len(billing.stripe.events)
    await billing.control(f"/subscriptions/{subscription['id']}/delete")
    [deleted] = billing.stripe.events[seen:]
    async with session_scope(billing.runtime) as session:
        session.add(
            StripeEvent(
                id=deleted["id"],
                type=deleted["type"],
                payload=deleted,
                not_before=clock.now() - timedelta(seconds=1),
            )
        )
    loops = billing.runtime.state["loops"]
    assert await loops.run_once("billing.requeue_stripe_events") == 1
    await billing.drain()
    assert (await billing.current())["tier"] == "free"
    assert await loops.run_once("billing.requeue_stripe_events") == 0


async def test_when_stripe_cant_be_reached_the_event_waits_for_a_later_try(
    app_factory: Any, stripe_sandbox: str, stripe_state: Any
) -> None:
    app = app_factory(sandbox_url=stripe_sandbox, stripe_api_base="http://127.0.0.1:9")
    event = {
        "id": "evt_unreachable",
        "object": "event",
        "type": "customer.subscription.updated",
        "data": {"object": {"id": "sub_x", "object": "subscription", "customer": "cus_x"}},
    }
    body = json.dumps(event).encode()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
            response = await api.post(
                "/api/v1/webhooks/stripe",
                content=body,
                headers={
                    "Stripe-Signature": sandbox_stripe.sign(body, sandbox_stripe.WEBHOOK_SECRET)
                },
            )
            assert response.status_code == 200, response.text
            await app.state.runtime.jobs.drain(timeout=30)
            async with session_scope(app.state.runtime) as session:
                stored = await session.get(StripeEvent, "evt_unreachable")
                assert stored is not None
                assert stored.processed_at is None
                assert stored.attempts == 1
                assert stored.claimed_until is None
                assert stored.last_error
                assert "Stripe" in stored.last_error


async def test_without_stripe_billing_answers_503(app_factory: Any) -> None:
    app = app_factory(sandbox="off")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
            owner = await register(api)
            for path, body in ((CHECKOUT, {"tier": "pro"}), ("/api/v1/subscriptions/portal", {})):
                response = await api.post(path, json=body, headers=owner.headers)
                assert response.status_code == 503, response.text
                assert "T21_STRIPE_API_KEY" in response.json()["detail"]
            hook = await api.post("/api/v1/webhooks/stripe", content=b"{}")
            assert hook.status_code == 503
            current = await api.get("/api/v1/subscriptions/current", headers=owner.headers)
            assert current.status_code == 200

"""The Stripe objects the fake makes and changes (customers, subscriptions and their items,
invoices, completed checkouts), each change sent as Stripe's event for it."""

from __future__ import annotations

import time
from typing import Any

from t21.sandbox.stripe.state import PERIOD_S, PRICE_AMOUNTS, new_id
from t21.sandbox.stripe.webhooks import WebhookSender


class StripeFake(WebhookSender):
    """The fake's operations on its state; every change goes out as an event."""

    def new_subscription(
        self, customer: str, price: str, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        now = int(time.time())
        subscription_id = new_id("sub")
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "customer": customer,
            "status": "active",
            "cancel_at_period_end": False,
            "cancel_at": None,
            "canceled_at": None,
            "ended_at": None,
            "created": now,
            "start_date": now,
            "current_period_start": now,
            "current_period_end": now + PERIOD_S,
            "items": {
                "object": "list",
                "data": [self.item(subscription_id, price, now)],
                "has_more": False,
            },
            "metadata": metadata,
            "latest_invoice": None,
            "livemode": False,
        }
        self.state.subscriptions[subscription_id] = subscription
        return subscription

    @staticmethod
    def item(subscription_id: str, price: str, start: int) -> dict[str, Any]:
        return {
            "id": new_id("si"),
            "object": "subscription_item",
            "subscription": subscription_id,
            "quantity": 1,
            "current_period_start": start,
            "current_period_end": start + PERIOD_S,
            "price": {
                "id": price,
                "object": "price",
                "currency": "gbp",
                "unit_amount": PRICE_AMOUNTS.get(price, 0),
                "recurring": {"interval": "month", "interval_count": 1},
            },
        }

    def invoice(self, subscription: dict[str, Any], status: str) -> dict[str, Any]:
        price = subscription["items"]["data"][0]["price"]
        invoice = {
            "id": new_id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "subscription": subscription["id"],
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": subscription["id"]},
            },
            "status": status,
            "currency": "gbp",
            "amount_due": price["unit_amount"],
            "amount_paid": price["unit_amount"] if status == "paid" else 0,
            "attempt_count": 1,
            "created": int(time.time()),
        }
        self.state.invoices[invoice["id"]] = invoice
        subscription["latest_invoice"] = invoice["id"]
        return invoice

    def new_period(self, subscription: dict[str, Any]) -> None:
        start = int(time.time())
        subscription["current_period_start"] = start
        subscription["current_period_end"] = start + PERIOD_S
        for item in subscription["items"]["data"]:
            item["current_period_start"] = start
            item["current_period_end"] = start + PERIOD_S

    def change(self, subscription: dict[str, Any], **values: Any) -> None:
        """Apply `values` and send `customer.subscription.updated` with what they replaced."""
        previous = {name: subscription.get(name) for name in values}
        subscription.update(values)
        self.emit("customer.subscription.updated", subscription, previous)

    def cancel_now(self, subscription: dict[str, Any]) -> None:
        now = int(time.time())
        subscription.update(status="canceled", canceled_at=now, ended_at=now)
        self.emit("customer.subscription.deleted", subscription)

    def pay(self, session: dict[str, Any]) -> dict[str, Any]:
        """Complete a checkout session: the subscription, its paid invoice, and the events."""
        customer = session["customer"]
        if customer is None:
            customer = self.create_customer({"email": session.get("customer_email")})["id"]
            session["customer"] = customer
        subscription = self.new_subscription(
            customer, session["_price"], dict(session.get("_subscription_metadata") or {})
        )
        self.emit("customer.subscription.created", subscription)
        self.emit("invoice.paid", self.invoice(subscription, "paid"))
        session.update(status="complete", payment_status="paid", subscription=subscription["id"])
        self.emit("checkout.session.completed", self.public(session))
        return subscription

    def create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer_id = new_id("cus")
        customer: dict[str, Any] = {
            "id": customer_id,
            "object": "customer",
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": params.get("metadata") or {},
            "created": int(time.time()),
            "livemode": False,
        }
        self.state.customers[customer_id] = customer
        return customer

    @staticmethod
    def public(session: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in session.items() if not key.startswith("_")}

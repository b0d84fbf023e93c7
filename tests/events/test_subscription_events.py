"""A subscription that changes at Stripe is an event, with the plan as the API shows it."""

from __future__ import annotations

from tests.billing.conftest import (  # noqa: F401  (fixtures)
    Billing,
    billing,
    settings_factory,
    stripe_sandbox,
    stripe_state,
)
from tests.billing.test_subscriptions import deliver_all, subscribe
from tests.events.conftest import list_events


async def test_subscribing_and_cancelling_are_events_and_a_replayed_webhook_is_not(
    billing: Billing,  # noqa: F811
) -> None:
    await subscribe(billing, "pro")
    [subscribed] = (await list_events(billing.api, billing.owner.headers))["items"]
    assert subscribed["type"] == "subscription.updated"
    assert subscribed["data"] == await billing.current()
    assert (subscribed["data"]["tier"], subscribed["data"]["status"]) == ("pro", "active")
    # The same state delivered again changes nothing, and says nothing.
    await deliver_all(billing)
    assert len((await list_events(billing.api, billing.owner.headers))["items"]) == 1
    cancelled = await billing.api.post(
        "/api/v1/subscriptions/cancel", json={}, headers=billing.owner.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    latest = (await list_events(billing.api, billing.owner.headers))["items"][0]
    assert latest["type"] == "subscription.updated"
    assert latest["data"]["cancel_at_period_end"] is True
    assert latest["data"] == cancelled.json()

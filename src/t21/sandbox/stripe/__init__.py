"""A fake of the parts of Stripe T21 uses, so an organization can be upgraded offline.

Stripe's API (form-encoded, `Authorization: Bearer sk_test_…`, `Idempotency-Key` honoured, errors
in Stripe's `{"error": {type, code, message, param}}` envelope):
- `POST /v1/customers`, `GET /v1/customers/{id}`
- `POST /v1/checkout/sessions` (subscription mode), `GET /v1/checkout/sessions/{id}`; the session's
  `url` is a hosted checkout page here (`GET /checkout/{id}`), whose form "pays": it creates the
  subscription, then sends `customer.subscription.created`, `invoice.paid` and
  `checkout.session.completed`, and sends the browser to the `success_url`.
- `POST /v1/billing_portal/sessions` (a portal page that can cancel at period end)
- `GET|POST|DELETE /v1/subscriptions/{id}` (read, update, cancel now)
- `POST /v1/webhook_endpoints` (where events go; the same URL is registered once)

Events are signed like Stripe's (`Stripe-Signature: t=…,v1=HMAC-SHA256(secret, "t.body")`, secret
`WEBHOOK_SECRET` unless `/_control` sets another) and sent to every registered endpoint, else to
`/api/v1/webhooks/stripe` at the origin of the last checkout's `success_url`; a non-2xx answer is
retried twice. `/_control`:
- `GET /_control/events`, `GET /_control/deliveries`: what happened, in order.
- `POST /_control/webhooks` `{url?, secret?, hold?, delay_s?, copies?}`: where and how to send:
  `hold` keeps new events until released, `delay_s` waits before each delivery, `copies` sends
  each event that many times.
- `POST /_control/release` `{order?: "created" | "reverse" | "shuffle", event_ids?, copies?,
  seed?}`: send the held events (or the given ones) in that order; answers once they are sent.
- `POST /_control/events/{id}/replay` `{copies?}`: send an event again.
- `POST /_control/subscriptions` `{customer, price}`: a paid subscription without checkout.
- `POST /_control/subscriptions/{id}/{fail_payment | pay | end_period | delete | trial_will_end}`:
  a payment fails (past_due), one succeeds (active, a new period), the period ends (renewed, or
  canceled when asked to cancel at its end), the subscription is deleted now, a trial ends soon.
- `POST /_control/reset`.

The fake's parts: `state` (its world, errors, form parsing), `objects` (what it makes and
changes), `webhooks` (events out), `api` (`/v1`), `pages` (checkout and portal) and `control`.
"""

from __future__ import annotations

from starlette.applications import Starlette

from t21.sandbox.stripe.api import api_routes
from t21.sandbox.stripe.control import control_routes
from t21.sandbox.stripe.objects import StripeFake
from t21.sandbox.stripe.pages import page_routes
from t21.sandbox.stripe.state import (
    API_KEY,
    API_VERSION,
    PERIOD_S,
    PRICE_AMOUNTS,
    PRICE_BUSINESS,
    PRICE_PRO,
    RETRY_DELAYS_S,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    StripeState,
    new_id,
    parse_form,
)
from t21.sandbox.stripe.webhooks import sign

__all__ = [
    "API_KEY",
    "API_VERSION",
    "PERIOD_S",
    "PRICE_AMOUNTS",
    "PRICE_BUSINESS",
    "PRICE_PRO",
    "RETRY_DELAYS_S",
    "WEBHOOK_PATH",
    "WEBHOOK_SECRET",
    "StripeFake",
    "StripeState",
    "create_stripe_app",
    "new_id",
    "parse_form",
    "sign",
]


def create_stripe_app(state: StripeState | None = None) -> Starlette:
    """The Stripe fake as an ASGI app, served at a root or mounted (at `/stripe`)."""
    fake = StripeFake(state or StripeState())
    app = Starlette(routes=[*api_routes(fake), *page_routes(fake), *control_routes(fake)])
    app.state.stripe = fake.state
    return app

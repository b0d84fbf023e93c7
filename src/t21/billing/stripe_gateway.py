"""How T21 reaches Stripe: the official client (async, over httpx), pointed at Stripe with T21's
key, else at the sandbox's fake Stripe outside production; 503 when neither is there.

Failures are classified here, once: `Retryable` (Stripe unreachable, rate limited, a 5xx),
`Permanent` (Stripe refused the request), `StripeMissing` (no such object). And webhook
signatures are checked here: `t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`, any of the
configured secrets, within 300 seconds.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import stripe

from t21.billing.plans import Tier
from t21.core import clock
from t21.core.errors import Unavailable
from t21.core.outside import Permanent, Retryable
from t21.core.runtime import Runtime
from t21.platforms.registry import sandbox_url
from t21.sandbox import stripe as sandbox_stripe

STRIPE_API_BASE = "https://api.stripe.com"
TIMEOUT_S = 20.0
# The client repeats a request that failed on the way (with the same idempotency key).
NETWORK_RETRIES = 2
SIGNATURE_TOLERANCE_S = 300

T = TypeVar("T")


class StripeMissing(Permanent):
    """Stripe has no such object (a 404)."""


@dataclass(frozen=True)
class StripeTarget:
    """Where Stripe calls go, with which key, which prices Checkout sells, and which secrets
    webhooks are signed with."""

    api_base: str
    api_key: str
    prices: dict[Tier, str]
    webhook_secrets: tuple[str, ...]
    sandbox: bool

    def tier_of_price(self, price_id: str | None) -> Tier | None:
        for tier, price in self.prices.items():
            if price == price_id:
                return tier
        return None


def target(runtime: Runtime) -> StripeTarget:
    """Stripe with T21's key, else the sandbox's fake (outside production); 503 otherwise.
    The sandbox's public webhook secret is accepted only while the sandbox is the Stripe."""
    settings = runtime.settings
    secrets = tuple(secret.get_secret_value() for secret in settings.stripe_webhook_secrets)
    prices: dict[Tier, str] = {}
    if settings.stripe_price_pro:
        prices[Tier.PRO] = settings.stripe_price_pro
    if settings.stripe_price_business:
        prices[Tier.BUSINESS] = settings.stripe_price_business
    key = settings.stripe_api_key
    if key is not None and key.get_secret_value():
        # The sandbox's secret is published: with real Stripe, a signature made with it is a
        # forgery, even if an operator copied the secret into T21_STRIPE_WEBHOOK_SECRETS.
        return StripeTarget(
            api_base=(settings.stripe_api_base or STRIPE_API_BASE).rstrip("/"),
            api_key=key.get_secret_value(),
            prices=prices,
            webhook_secrets=tuple(s for s in secrets if s != sandbox_stripe.WEBHOOK_SECRET),
            sandbox=False,
        )
    fake = sandbox_url(runtime) if settings.sandbox_enabled else None
    if fake is None:
        raise Unavailable(
            "Billing isn't configured on this server: an operator must set T21_STRIPE_API_KEY."
        )
    return StripeTarget(
        api_base=(settings.stripe_api_base or f"{fake}/stripe").rstrip("/"),
        api_key=sandbox_stripe.API_KEY,
        prices={
            Tier.PRO: prices.get(Tier.PRO, sandbox_stripe.PRICE_PRO),
            Tier.BUSINESS: prices.get(Tier.BUSINESS, sandbox_stripe.PRICE_BUSINESS),
        },
        webhook_secrets=(*secrets, sandbox_stripe.WEBHOOK_SECRET),
        sandbox=True,
    )


@asynccontextmanager
async def client(stripe_target: StripeTarget) -> AsyncIterator[stripe.StripeClient]:
    """A Stripe client for one piece of work (it holds its own connections)."""
    http = stripe.HTTPXClient(timeout=TIMEOUT_S)
    try:
        yield stripe.StripeClient(
            stripe_target.api_key,
            base_addresses={"api": stripe_target.api_base},
            http_client=http,
            max_network_retries=NETWORK_RETRIES,
        )
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]


async def call(request: Awaitable[T]) -> T:
    """Await a Stripe request, its failures classified."""
    try:
        return await request
    except stripe.RateLimitError as failure:
        raise Retryable("Stripe is rate limiting T21; try again shortly.", after=5) from failure
    except (stripe.APIConnectionError, stripe.APIError) as failure:
        raise Retryable("Stripe can't be reached right now; try again shortly.") from failure
    except stripe.AuthenticationError as failure:
        raise Retryable("Stripe refused T21's API key (T21_STRIPE_API_KEY).") from failure
    except stripe.InvalidRequestError as failure:
        if failure.http_status == 404:
            raise StripeMissing(failure.user_message or "No such object at Stripe.") from failure
        raise Permanent(
            failure.user_message or "Stripe refused the request.", code=failure.code
        ) from failure
    except stripe.StripeError as failure:
        raise Permanent(failure.user_message or "Stripe refused the request.") from failure


def plain(value: Any) -> dict[str, Any]:
    """A Stripe object as plain dicts and lists."""
    if isinstance(value, stripe.StripeObject):
        result: dict[str, Any] = value.to_dict()
        return result
    return dict(value)


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` Stripe would send for `payload` (the sandbox and tests sign so)."""
    moment = int(clock.now().timestamp()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256)
    return f"t={moment},v1={digest.hexdigest()}"


def signature_valid(payload: bytes, header: str | None, secrets: tuple[str, ...]) -> bool:
    """Whether `header` signs `payload` with one of `secrets`, at most 300 s from now."""
    if not header or not secrets:
        return False
    timestamp: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not (timestamp.isascii() and timestamp.isdigit()) or not signatures:
        return False
    if abs(clock.now().timestamp() - int(timestamp)) > SIGNATURE_TOLERANCE_S:
        return False
    signed = timestamp.encode() + b"." + payload
    found = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        for signature in signatures:
            found |= hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
    return found

"""The Stripe fake's API (`/v1`): form-encoded, `Authorization: Bearer sk_test_…`,
`Idempotency-Key` honoured (the same key with other parameters is refused as Stripe refuses it)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.stripe.objects import StripeFake
from t21.sandbox.stripe.state import (
    WEBHOOK_PATH,
    missing,
    new_id,
    parse_form,
    stripe_error,
    truthy,
)


def api_routes(fake: StripeFake) -> list[Route]:
    state = fake.state

    def authorized(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer sk_test_")

    def invalid_key() -> Response:
        return stripe_error(401, "Invalid API Key provided.", code="api_key_invalid")

    def read(
        request: Request,
        kind: str,
        objects: dict[str, dict[str, Any]],
        view: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Response:
        """A read of one of `objects` by the path's id: 401 without a key, Stripe's 404 for an
        id it doesn't hold, else the object (as `view` shows it, if given)."""
        if not authorized(request):
            return invalid_key()
        found = objects.get(request.path_params["id"])
        if found is None:
            return missing(kind, request.path_params["id"])
        return JSONResponse(view(found) if view is not None else found)

    async def api(request: Request) -> tuple[dict[str, Any], Response | None]:
        """The request's parameters, or the answer that refuses it."""
        if not authorized(request):
            return {}, invalid_key()
        form = await request.form()
        params = parse_form([(k, str(v)) for k, v in form.multi_items()])
        return params, None

    def remembered(request: Request, params: dict[str, Any]) -> Response | None:
        key = request.headers.get("idempotency-key")
        if key is None or key not in state.idempotency:
            return None
        fingerprint, status, body = state.idempotency[key]
        if fingerprint != json.dumps([request.url.path, params], sort_keys=True):
            return stripe_error(
                400,
                "Keys for idempotent requests can only be used with the same parameters.",
                code="idempotency_error",
            )
        return JSONResponse(body, status_code=status)

    def answer(request: Request, params: dict[str, Any], body: Any) -> Response:
        key = request.headers.get("idempotency-key")
        if key is not None:
            fingerprint = json.dumps([request.url.path, params], sort_keys=True)
            state.idempotency[key] = (fingerprint, 200, copy.deepcopy(body))
        return JSONResponse(body)

    async def write(request: Request) -> tuple[dict[str, Any], Response | None]:
        """A write's parameters, or its answer already: a refusal, or what the earlier request
        with its `Idempotency-Key` was answered."""
        params, refused = await api(request)
        if refused is not None:
            return params, refused
        return params, remembered(request, params)

    # --- the API -----------------------------------------------------------------------------

    async def create_customer(request: Request) -> Response:
        params, settled = await write(request)
        if settled is not None:
            return settled
        return answer(request, params, fake.create_customer(params))

    async def get_customer(request: Request) -> Response:
        return read(request, "customer", state.customers)

    async def create_session(request: Request) -> Response:
        params, settled = await write(request)
        if settled is not None:
            return settled
        if params.get("mode") != "subscription":
            return stripe_error(400, "The fake supports mode=subscription only.", param="mode")
        items = params.get("line_items")
        price = items[0].get("price") if isinstance(items, list) and items else None
        if not price:
            return stripe_error(400, "Missing required param: line_items.", param="line_items")
        if not params.get("success_url"):
            return stripe_error(400, "Missing required param: success_url.", param="success_url")
        customer = params.get("customer")
        if customer is not None and customer not in state.customers:
            return missing("customer", customer)
        session_id = new_id("cs_test")
        url = str(request.url_for("checkout_page", session_id=session_id))
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription",
            "url": url,
            "status": "open",
            "payment_status": "unpaid",
            "customer": customer,
            "customer_email": params.get("customer_email"),
            "subscription": None,
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "expires_at": int(time.time()) + 24 * 3600,
            "livemode": False,
            "_price": price,
            "_subscription_metadata": (params.get("subscription_data") or {}).get("metadata"),
        }
        state.sessions[session_id] = session
        origin = urlsplit(params["success_url"])
        state.fallback_url = f"{origin.scheme}://{origin.netloc}{WEBHOOK_PATH}"
        return answer(request, params, fake.public(session))

    async def get_session(request: Request) -> Response:
        return read(request, "checkout.session", state.sessions, fake.public)

    async def create_portal_session(request: Request) -> Response:
        params, settled = await write(request)
        if settled is not None:
            return settled
        customer = params.get("customer")
        if not customer:
            return stripe_error(400, "Missing required param: customer.", param="customer")
        if customer not in state.customers:
            return missing("customer", customer)
        portal_id = new_id("bps")
        portal = {
            "id": portal_id,
            "object": "billing_portal.session",
            "customer": customer,
            "return_url": params.get("return_url"),
            "url": str(request.url_for("portal_page", portal_id=portal_id)),
            "created": int(time.time()),
            "livemode": False,
            "configuration": "bpc_t21_sandbox",
            "flow": None,
            "locale": None,
            "on_behalf_of": None,
        }
        state.sessions[portal_id] = portal
        return answer(request, params, portal)

    async def subscription(request: Request) -> Response:
        subscription_id = request.path_params["id"]
        if request.method == "POST":
            params, refused = await api(request)
            if refused is not None:
                return refused
        elif not authorized(request):
            return invalid_key()
        else:
            params = {}
        found = state.subscriptions.get(subscription_id)
        if found is None:
            return missing("subscription", subscription_id)
        if request.method == "GET":
            return JSONResponse(found)
        replay = remembered(request, params)
        if replay is not None:
            return replay
        if found["status"] == "canceled":
            return stripe_error(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        if request.method == "DELETE":
            fake.cancel_now(found)
            return answer(request, params, found)
        changes: dict[str, Any] = {}
        if "cancel_at_period_end" in params:
            changes["cancel_at_period_end"] = truthy(params["cancel_at_period_end"])
            changes["cancel_at"] = (
                found["current_period_end"] if changes["cancel_at_period_end"] else None
            )
        items = params.get("items")
        if isinstance(items, list) and items and items[0].get("price"):
            item = copy.deepcopy(found["items"])
            item["data"][0]["price"] = fake.item(found["id"], items[0]["price"], 0)["price"]
            changes["items"] = item
        if isinstance(params.get("metadata"), dict):
            changes["metadata"] = {**found["metadata"], **params["metadata"]}
        if changes:
            fake.change(found, **changes)
        return answer(request, params, found)

    async def create_endpoint(request: Request) -> Response:
        params, refused = await api(request)
        if refused is not None:
            return refused
        url = params.get("url")
        if not url:
            return stripe_error(400, "Missing required param: url.", param="url")
        for endpoint in state.endpoints.values():
            if endpoint["url"] == url:
                return JSONResponse(endpoint)
        endpoint = {
            "id": new_id("we"),
            "object": "webhook_endpoint",
            "url": url,
            "enabled_events": params.get("enabled_events") or ["*"],
            "status": "enabled",
            "secret": state.secret,
            "livemode": False,
        }
        state.endpoints[endpoint["id"]] = endpoint
        return JSONResponse(endpoint)

    return [
        Route("/v1/customers", create_customer, methods=["POST"]),
        Route("/v1/customers/{id}", get_customer, methods=["GET"]),
        Route("/v1/checkout/sessions", create_session, methods=["POST"]),
        Route("/v1/checkout/sessions/{id}", get_session, methods=["GET"]),
        Route("/v1/billing_portal/sessions", create_portal_session, methods=["POST"]),
        Route("/v1/subscriptions/{id}", subscription, methods=["GET", "POST", "DELETE"]),
        Route("/v1/webhook_endpoints", create_endpoint, methods=["POST"]),
    ]

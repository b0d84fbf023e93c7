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
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import html
import json
import random
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

API_KEY = "sk_test_t21_sandbox"
WEBHOOK_SECRET = "whsec_t21_sandbox"  # noqa: S105 (the sandbox's public test secret)
# Accepted by T21 only while the sandbox is its Stripe (no T21_STRIPE_API_KEY), never in
# production: `t21.core.settings.SANDBOX_STRIPE_WEBHOOK_SECRET` is the same string.
PRICE_PRO = "price_t21_pro"
PRICE_BUSINESS = "price_t21_business"
PRICE_AMOUNTS = {PRICE_PRO: 700, PRICE_BUSINESS: 3500}
API_VERSION = "2025-09-30.clover"
PERIOD_S = 30 * 24 * 3600
RETRY_DELAYS_S = (0.2, 1.0)
WEBHOOK_PATH = "/api/v1/webhooks/stripe"


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256)
    return f"t={moment},v1={digest.hexdigest()}"


@dataclass
class StripeState:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    idempotency: dict[str, tuple[str, int, Any]] = field(default_factory=dict)
    secret: str = WEBHOOK_SECRET
    hold: bool = False
    delay_s: float = 0.0
    copies: int = 1
    # Where events go when no endpoint is registered: the last checkout's success_url origin.
    fallback_url: str | None = None

    def reset(self) -> None:
        fresh = StripeState()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))

    def event(self, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> Any:
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": kind,
            "data": data,
        }
        self.events.append(event)
        return event

    def find_event(self, event_id: str) -> dict[str, Any] | None:
        return next((event for event in self.events if event["id"] == event_id), None)


def _error(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> Response:
    kind = "invalid_request_error" if status < 500 else "api_error"
    body = {"error": {"type": kind, "code": code, "message": message, "param": param}}
    return JSONResponse(body, status_code=status)


def _missing(kind: str, object_id: str) -> Response:
    return _error(404, f"No such {kind}: '{object_id}'", code="resource_missing", param="id")


def parse_form(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracketed form keys (`line_items[0][price]`) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in items:
        parts = re.findall(r"[^\[\]]+", key)
        if not parts:
            continue
        node: dict[str, Any] = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)  # type: ignore[no-any-return]


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1", "yes")


class StripeFake:
    def __init__(self, state: StripeState) -> None:
        self.state = state
        self._tasks: set[asyncio.Task[None]] = set()

    # --- webhooks ------------------------------------------------------------------------------

    def targets(self) -> list[str]:
        urls = [endpoint["url"] for endpoint in self.state.endpoints.values()]
        if not urls and self.state.fallback_url is not None:
            urls = [self.state.fallback_url]
        return urls

    def emit(self, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        event = self.state.event(kind, obj, previous)
        if self.state.hold:
            self.state.held.append(event["id"])
            return
        task = asyncio.create_task(self.deliver(event, self.state.copies))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(self, event: dict[str, Any], copies: int = 1) -> None:
        for _ in range(max(1, copies)):
            if self.state.delay_s:
                await asyncio.sleep(self.state.delay_s)
            for url in self.targets():
                await self._send(url, event)

    async def _send(self, url: str, event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        for attempt, wait in enumerate((0.0, *RETRY_DELAYS_S), start=1):
            if wait:
                await asyncio.sleep(wait)
            record: dict[str, Any] = {"event_id": event["id"], "url": url, "attempt": attempt}
            try:
                async with httpx.AsyncClient(timeout=10) as http:
                    answer = await http.post(
                        url,
                        content=body,
                        headers={
                            "Content-Type": "application/json; charset=utf-8",
                            "Stripe-Signature": sign(body, self.state.secret),
                            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                        },
                    )
                record["status"] = answer.status_code
            except httpx.HTTPError as exc:
                record["status"] = None
                record["error"] = type(exc).__name__
            self.state.deliveries.append(record)
            if record["status"] is not None and 200 <= record["status"] < 300:
                return

    # --- objects -------------------------------------------------------------------------------

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


def create_stripe_app(state: StripeState | None = None) -> Starlette:
    state = state or StripeState()
    fake = StripeFake(state)

    def authorized(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer sk_test_")

    async def api(request: Request) -> tuple[dict[str, Any], Response | None]:
        """The request's parameters, or the answer that refuses it."""
        if not authorized(request):
            return {}, _error(401, "Invalid API Key provided.", code="api_key_invalid")
        form = await request.form()
        params = parse_form([(k, str(v)) for k, v in form.multi_items()])
        return params, None

    def remembered(request: Request, params: dict[str, Any]) -> Response | None:
        key = request.headers.get("idempotency-key")
        if key is None or key not in state.idempotency:
            return None
        fingerprint, status, body = state.idempotency[key]
        if fingerprint != json.dumps([request.url.path, params], sort_keys=True):
            return _error(
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

    # --- the API -----------------------------------------------------------------------------

    async def create_customer(request: Request) -> Response:
        params, refused = await api(request)
        if refused is not None:
            return refused
        replay = remembered(request, params)
        if replay is not None:
            return replay
        return answer(request, params, fake.create_customer(params))

    async def get_customer(request: Request) -> Response:
        if not authorized(request):
            return _error(401, "Invalid API Key provided.", code="api_key_invalid")
        customer = state.customers.get(request.path_params["id"])
        if customer is None:
            return _missing("customer", request.path_params["id"])
        return JSONResponse(customer)

    async def create_session(request: Request) -> Response:
        params, refused = await api(request)
        if refused is not None:
            return refused
        replay = remembered(request, params)
        if replay is not None:
            return replay
        if params.get("mode") != "subscription":
            return _error(400, "The fake supports mode=subscription only.", param="mode")
        items = params.get("line_items")
        price = items[0].get("price") if isinstance(items, list) and items else None
        if not price:
            return _error(400, "Missing required param: line_items.", param="line_items")
        if not params.get("success_url"):
            return _error(400, "Missing required param: success_url.", param="success_url")
        customer = params.get("customer")
        if customer is not None and customer not in state.customers:
            return _missing("customer", customer)
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
        if not authorized(request):
            return _error(401, "Invalid API Key provided.", code="api_key_invalid")
        session = state.sessions.get(request.path_params["id"])
        if session is None:
            return _missing("checkout.session", request.path_params["id"])
        return JSONResponse(fake.public(session))

    async def create_portal_session(request: Request) -> Response:
        params, refused = await api(request)
        if refused is not None:
            return refused
        replay = remembered(request, params)
        if replay is not None:
            return replay
        customer = params.get("customer")
        if not customer:
            return _error(400, "Missing required param: customer.", param="customer")
        if customer not in state.customers:
            return _missing("customer", customer)
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
            return _error(401, "Invalid API Key provided.", code="api_key_invalid")
        else:
            params = {}
        found = state.subscriptions.get(subscription_id)
        if found is None:
            return _missing("subscription", subscription_id)
        if request.method == "GET":
            return JSONResponse(found)
        replay = remembered(request, params)
        if replay is not None:
            return replay
        if found["status"] == "canceled":
            return _error(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        if request.method == "DELETE":
            fake.cancel_now(found)
            return answer(request, params, found)
        changes: dict[str, Any] = {}
        if "cancel_at_period_end" in params:
            changes["cancel_at_period_end"] = _truthy(params["cancel_at_period_end"])
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
            return _error(400, "Missing required param: url.", param="url")
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

    # --- the pages a browser sees --------------------------------------------------------------

    async def checkout_page(request: Request) -> Response:
        session = state.sessions.get(request.path_params["session_id"])
        if session is None or session.get("object") != "checkout.session":
            return HTMLResponse("<h1>No such checkout session</h1>", status_code=404)
        amount = PRICE_AMOUNTS.get(session["_price"])
        price = f"£{amount / 100:.2f} / month" if amount is not None else session["_price"]
        cancel = session.get("cancel_url")
        cancel_link = f'<p><a href="{html.escape(cancel)}">Cancel</a></p>' if cancel else ""
        pay = request.url_for("checkout_pay", session_id=session["id"])
        return HTMLResponse(
            "<!doctype html><title>Sandbox Checkout</title>"
            f"<h1>Sandbox Checkout</h1><p>Subscription: {html.escape(price)}</p>"
            f'<form method="post" action="{html.escape(str(pay))}">'
            '<button type="submit">Pay</button></form>'
            f"{cancel_link}<p>Test mode: no card is charged.</p>"
        )

    async def checkout_pay(request: Request) -> Response:
        session = state.sessions.get(request.path_params["session_id"])
        if session is None or session.get("object") != "checkout.session":
            return HTMLResponse("<h1>No such checkout session</h1>", status_code=404)
        if session["status"] != "open":
            return HTMLResponse("<h1>This checkout session is already complete</h1>", 409)
        fake.pay(session)
        target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])
        return RedirectResponse(target, status_code=303)

    async def portal_page(request: Request) -> Response:
        portal = state.sessions.get(request.path_params["portal_id"])
        if portal is None or portal.get("object") != "billing_portal.session":
            return HTMLResponse("<h1>No such portal session</h1>", status_code=404)
        rows = []
        for found in state.subscriptions.values():
            if found["customer"] != portal["customer"]:
                continue
            price = found["items"]["data"][0]["price"]["id"]
            action = request.url_for(
                "portal_cancel", portal_id=portal["id"], subscription_id=found["id"]
            )
            button = (
                f'<form method="post" action="{html.escape(str(action))}">'
                "<button>Cancel at period end</button></form>"
                if found["status"] != "canceled" and not found["cancel_at_period_end"]
                else ""
            )
            rows.append(f"<li>{html.escape(price)}: {html.escape(found['status'])}{button}</li>")
        back = portal.get("return_url") or ""
        return HTMLResponse(
            "<!doctype html><title>Sandbox billing portal</title><h1>Your subscriptions</h1>"
            f'<ul>{"".join(rows)}</ul><p><a href="{html.escape(back)}">Back</a></p>'
        )

    async def portal_cancel(request: Request) -> Response:
        portal = state.sessions.get(request.path_params["portal_id"])
        found = state.subscriptions.get(request.path_params["subscription_id"])
        if portal is None or found is None or found["customer"] != portal.get("customer"):
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        if found["status"] != "canceled" and not found["cancel_at_period_end"]:
            fake.change(found, cancel_at_period_end=True, cancel_at=found["current_period_end"])
        back = request.url_for("portal_page", portal_id=portal["id"])
        return RedirectResponse(str(back), status_code=303)

    # --- /_control -----------------------------------------------------------------------------

    async def control_events(_request: Request) -> Response:
        return JSONResponse({"events": state.events, "held": state.held})

    async def control_deliveries(_request: Request) -> Response:
        return JSONResponse({"deliveries": state.deliveries})

    async def control_webhooks(request: Request) -> Response:
        body = await request.json()
        if body.get("url"):
            endpoint = {"id": new_id("we"), "url": body["url"], "status": "enabled"}
            state.endpoints = {endpoint["id"]: endpoint}
        if "secret" in body:
            state.secret = str(body["secret"])
        if "hold" in body:
            state.hold = bool(body["hold"])
        if "delay_s" in body:
            state.delay_s = float(body["delay_s"])
        if "copies" in body:
            state.copies = max(1, int(body["copies"]))
        return JSONResponse(
            {
                "endpoints": list(state.endpoints.values()),
                "hold": state.hold,
                "delay_s": state.delay_s,
                "copies": state.copies,
            }
        )

    async def control_release(request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        ids = list(body.get("event_ids") or state.held)
        order = body.get("order", "created")
        if order == "reverse":
            ids.reverse()
        elif order == "shuffle":
            random.Random(body.get("seed")).shuffle(ids)  # noqa: S311
        state.held = [event_id for event_id in state.held if event_id not in ids]
        for event_id in ids:
            event = state.find_event(event_id)
            if event is not None:
                await fake.deliver(event, int(body.get("copies", state.copies)))
        return JSONResponse({"delivered": ids})

    async def control_replay(request: Request) -> Response:
        event = state.find_event(request.path_params["event_id"])
        if event is None:
            return _missing("event", request.path_params["event_id"])
        body = await request.json() if await request.body() else {}
        await fake.deliver(event, int(body.get("copies", 1)))
        return JSONResponse({"delivered": [event["id"]]})

    async def control_subscribe(request: Request) -> Response:
        body = await request.json()
        customer = body.get("customer")
        if customer not in state.customers:
            return _missing("customer", str(customer))
        created = fake.new_subscription(
            customer, body.get("price", PRICE_PRO), dict(body.get("metadata") or {})
        )
        fake.emit("customer.subscription.created", created)
        fake.emit("invoice.paid", fake.invoice(created, "paid"))
        return JSONResponse(created)

    async def control_subscription(request: Request) -> Response:
        found = state.subscriptions.get(request.path_params["id"])
        if found is None:
            return _missing("subscription", request.path_params["id"])
        action = request.path_params["action"]
        if found["status"] == "canceled":
            return _error(400, "The subscription is canceled.")
        if action == "fail_payment":
            fake.emit("invoice.payment_failed", fake.invoice(found, "open"))
            fake.change(found, status="past_due")
        elif action == "pay":
            fake.new_period(found)
            fake.emit("invoice.paid", fake.invoice(found, "paid"))
            fake.change(found, status="active")
        elif action == "end_period":
            if found["cancel_at_period_end"]:
                fake.cancel_now(found)
            else:
                fake.new_period(found)
                fake.emit("invoice.paid", fake.invoice(found, "paid"))
                fake.change(found, status="active")
        elif action == "delete":
            fake.cancel_now(found)
        elif action == "trial_will_end":
            fake.emit("customer.subscription.trial_will_end", found)
        else:
            return _error(404, f"Unknown action {action!r}.")
        return JSONResponse(found)

    async def control_reset(_request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True})

    app = Starlette(
        routes=[
            Route("/v1/customers", create_customer, methods=["POST"]),
            Route("/v1/customers/{id}", get_customer, methods=["GET"]),
            Route("/v1/checkout/sessions", create_session, methods=["POST"]),
            Route("/v1/checkout/sessions/{id}", get_session, methods=["GET"]),
            Route("/v1/billing_portal/sessions", create_portal_session, methods=["POST"]),
            Route("/v1/subscriptions/{id}", subscription, methods=["GET", "POST", "DELETE"]),
            Route("/v1/webhook_endpoints", create_endpoint, methods=["POST"]),
            Route("/checkout/{session_id}", checkout_page, name="checkout_page"),
            Route(
                "/checkout/{session_id}/pay", checkout_pay, methods=["POST"], name="checkout_pay"
            ),
            Route("/portal/{portal_id}", portal_page, name="portal_page"),
            Route(
                "/portal/{portal_id}/cancel/{subscription_id}",
                portal_cancel,
                methods=["POST"],
                name="portal_cancel",
            ),
            Route("/_control/events", control_events, methods=["GET"]),
            Route("/_control/deliveries", control_deliveries, methods=["GET"]),
            Route("/_control/webhooks", control_webhooks, methods=["POST"]),
            Route("/_control/release", control_release, methods=["POST"]),
            Route("/_control/events/{event_id}/replay", control_replay, methods=["POST"]),
            Route("/_control/subscriptions", control_subscribe, methods=["POST"]),
            Route("/_control/subscriptions/{id}/{action}", control_subscription, methods=["POST"]),
            Route("/_control/reset", control_reset, methods=["POST"]),
        ]
    )
    app.state.stripe = state
    return app

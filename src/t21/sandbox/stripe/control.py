"""The Stripe fake's `/_control`: what happened, where and how events go (held, delayed,
copied, released in an order, replayed), and subscriptions moved through their life without
a browser."""

from __future__ import annotations

import random

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.stripe.objects import StripeFake
from t21.sandbox.stripe.state import PRICE_PRO, missing, new_id, stripe_error


def control_routes(fake: StripeFake) -> list[Route]:
    state = fake.state

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
            return missing("event", request.path_params["event_id"])
        body = await request.json() if await request.body() else {}
        await fake.deliver(event, int(body.get("copies", 1)))
        return JSONResponse({"delivered": [event["id"]]})

    async def control_subscribe(request: Request) -> Response:
        body = await request.json()
        customer = body.get("customer")
        if customer not in state.customers:
            return missing("customer", str(customer))
        created = fake.new_subscription(
            customer, body.get("price", PRICE_PRO), dict(body.get("metadata") or {})
        )
        fake.emit("customer.subscription.created", created)
        fake.emit("invoice.paid", fake.invoice(created, "paid"))
        return JSONResponse(created)

    async def control_subscription(request: Request) -> Response:
        found = state.subscriptions.get(request.path_params["id"])
        if found is None:
            return missing("subscription", request.path_params["id"])
        action = request.path_params["action"]
        if found["status"] == "canceled":
            return stripe_error(400, "The subscription is canceled.")
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
            return stripe_error(404, f"Unknown action {action!r}.")
        return JSONResponse(found)

    async def control_reset(_request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True})

    return [
        Route("/_control/events", control_events, methods=["GET"]),
        Route("/_control/deliveries", control_deliveries, methods=["GET"]),
        Route("/_control/webhooks", control_webhooks, methods=["POST"]),
        Route("/_control/release", control_release, methods=["POST"]),
        Route("/_control/events/{event_id}/replay", control_replay, methods=["POST"]),
        Route("/_control/subscriptions", control_subscribe, methods=["POST"]),
        Route("/_control/subscriptions/{id}/{action}", control_subscription, methods=["POST"]),
        Route("/_control/reset", control_reset, methods=["POST"]),
    ]

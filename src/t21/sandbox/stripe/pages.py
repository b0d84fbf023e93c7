"""The pages a browser sees at the Stripe fake: the hosted checkout, whose form "pays" (the
subscription, its events, then the browser sent to the `success_url`), and the billing portal,
which can cancel a subscription at its period's end."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from t21.sandbox.stripe.objects import StripeFake
from t21.sandbox.stripe.state import PRICE_AMOUNTS


def page_routes(fake: StripeFake) -> list[Route]:
    state = fake.state

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

    return [
        Route("/checkout/{session_id}", checkout_page, name="checkout_page"),
        Route("/checkout/{session_id}/pay", checkout_pay, methods=["POST"], name="checkout_pay"),
        Route("/portal/{portal_id}", portal_page, name="portal_page"),
        Route(
            "/portal/{portal_id}/cancel/{subscription_id}",
            portal_cancel,
            methods=["POST"],
            name="portal_cancel",
        ),
    ]

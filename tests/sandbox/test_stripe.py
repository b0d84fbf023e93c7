"""The Stripe fake's reads of one object on the wire, as Stripe answers them: the object, Stripe's
404 for an id it doesn't hold, 401 without a secret key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from t21.sandbox.server import ThreadedServer
from t21.sandbox.stripe import API_KEY, PRICE_PRO, StripeState, create_stripe_app

KEY = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def stripe() -> Iterator[httpx.Client]:
    with (
        ThreadedServer(create_stripe_app(StripeState())) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield client


def test_a_customer_reads_back_as_created_and_an_unknown_one_is_resource_missing(
    stripe: httpx.Client,
) -> None:
    created = stripe.post("/v1/customers", data={"email": "ada@example.com"}, headers=KEY)
    assert created.status_code == 200, created.text
    customer = created.json()
    read = stripe.get(f"/v1/customers/{customer['id']}", headers=KEY)
    assert (read.status_code, read.json()) == (200, customer)
    unknown = stripe.get("/v1/customers/cus_nobody", headers=KEY)
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert (error["code"], error["param"]) == ("resource_missing", "id")
    assert error["message"] == "No such customer: 'cus_nobody'"


def test_a_checkout_session_reads_back_without_the_fakes_own_fields(
    stripe: httpx.Client,
) -> None:
    form = {
        "mode": "subscription",
        "line_items[0][price]": PRICE_PRO,
        "line_items[0][quantity]": "1",
        "success_url": "http://127.0.0.1:9/done",
    }
    created = stripe.post("/v1/checkout/sessions", data=form, headers=KEY)
    assert created.status_code == 200, created.text
    session = created.json()
    read = stripe.get(f"/v1/checkout/sessions/{session['id']}", headers=KEY)
    assert (read.status_code, read.json()) == (200, session)
    assert not [name for name in session if name.startswith("_")]
    unknown = stripe.get("/v1/checkout/sessions/cs_test_nothing", headers=KEY)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "No such checkout.session: 'cs_test_nothing'"


@pytest.mark.parametrize("path", ["/v1/customers/cus_any", "/v1/checkout/sessions/cs_test_any"])
def test_a_read_without_a_secret_key_is_refused_before_the_lookup(
    stripe: httpx.Client, path: str
) -> None:
    for headers in ({}, {"Authorization": "Bearer pk_test_public"}):
        refused = stripe.get(path, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "api_key_invalid"

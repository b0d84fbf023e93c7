"""The whole upgrade offline, over real HTTP on loopback: T21 and the sandbox each on a port,
a browser's trip through the sandbox's checkout page, its signed webhooks to T21's public URL,
and the organization on Pro with raised limits; then cancelled, deleted, and back on Free with
nothing lost."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from t21.api import create_app
from t21.core.tls import tls_context
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.server import ThreadedServer
from tests.support.accounts import Account, register
from tests.support.loopback import PublicPort


@pytest.fixture
async def servers(settings_factory: Any) -> AsyncIterator[tuple[str, str]]:
    """(T21's URL, the sandbox's URL): the sandbox served from its own thread, T21's app started
    and served from the test's event loop (one app, one runtime)."""
    with ThreadedServer(create_sandbox_app()) as sandbox, closing(PublicPort()) as public:
        settings = settings_factory(sandbox_url=sandbox.url, public_url=public.url)
        app = create_app(settings, worker=True, loops=True)
        async with app.router.lifespan_context(app), public.serve(app):
            yield public.url, sandbox.url


async def wait_for(http: httpx.AsyncClient, owner: Account, **expected: Any) -> dict[str, Any]:
    """The subscription once it shows `expected` (webhooks and jobs take a moment)."""
    body: dict[str, Any] = {}
    for _ in range(200):
        response = await http.get("/api/v1/subscriptions/current", headers=owner.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        if all(body[name] == value for name, value in expected.items()):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"the subscription never showed {expected}: {body}")


async def test_an_organization_upgrades_offline_and_falls_back_to_free_keeping_everything(
    servers: tuple[str, str],
) -> None:
    t21, sandbox = servers
    async with httpx.AsyncClient(verify=tls_context(), base_url=t21, timeout=30) as http:
        owner = await register(http)
        before = await wait_for(http, owner, tier="free")
        assert before["limits"]["brands"] == 1

        checkout = await http.post(
            "/api/v1/subscriptions/checkout", json={"tier": "pro"}, headers=owner.headers
        )
        assert checkout.status_code == 200, checkout.text
        url = checkout.json()["checkout_url"]
        assert url.startswith(f"{sandbox}/stripe/checkout/")

        async with httpx.AsyncClient(verify=tls_context(), timeout=30) as browser:
            page = await browser.get(url)
            assert page.status_code == 200
            action = re.search(r'<form method="post" action="([^"]+)"', page.text)
            assert action is not None, page.text
            paid = await browser.post(action.group(1))
        assert paid.status_code == 303
        assert paid.headers["location"].startswith(f"{t21}/billing?checkout=success")
        assert checkout.json()["session_id"] in paid.headers["location"]

        pro = await wait_for(http, owner, tier="pro", status="active")
        assert pro["limits"]["brands"] == 5
        assert pro["current_period_end"] is not None
        for name in ("One", "Two", "Three"):
            created = await http.post("/api/v1/brands", json={"name": name}, headers=owner.headers)
            assert created.status_code == 201, created.text

        cancelled = await http.post("/api/v1/subscriptions/cancel", json={}, headers=owner.headers)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["tier"] == "pro"
        await wait_for(http, owner, tier="pro", cancel_at_period_end=True)

        async with httpx.AsyncClient(
            verify=tls_context(), base_url=f"{sandbox}/stripe", timeout=30
        ) as control:
            events = (await control.get("/_control/events")).json()["events"]
            [subscription_id] = {
                event["data"]["object"]["id"]
                for event in events
                if event["type"].startswith("customer.subscription.")
            }
            ended = await control.post(f"/_control/subscriptions/{subscription_id}/end_period")
            assert ended.status_code == 200, ended.text
            assert ended.json()["status"] == "canceled"

        free = await wait_for(http, owner, tier="free", status="canceled")
        assert free["limits"]["brands"] == 1
        assert free["usage"]["brands"] == 3
        brands = await http.get("/api/v1/brands", headers=owner.headers)
        assert [b["name"] for b in brands.json()["items"]] == ["One", "Two", "Three"]
        refused = await http.post("/api/v1/brands", json={"name": "Four"}, headers=owner.headers)
        assert refused.status_code == 402
        assert refused.json()["tier"] == "free"

        async with httpx.AsyncClient(
            verify=tls_context(), base_url=f"{sandbox}/stripe", timeout=30
        ) as control:
            deliveries = (await control.get("/_control/deliveries")).json()["deliveries"]
        assert deliveries
        assert {d["url"] for d in deliveries} == {f"{t21}/api/v1/webhooks/stripe"}
        assert {d["status"] for d in deliveries} == {200}

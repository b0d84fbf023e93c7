"""Billing's tests run with the plans' real limits (elsewhere the suite makes them roomy), and
with the sandbox's Stripe served over HTTP on loopback."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.tls import tls_context
from t21.sandbox import stripe as sandbox_stripe
from t21.sandbox.server import ThreadedServer
from t21.sandbox.stripe import StripeState, create_stripe_app
from t21.worker.queue import JobQueue
from tests.support.accounts import Account, register

FRONT_END = "http://app.example.test"


@pytest.fixture
def settings_factory(settings_factory: Callable[..., Settings]) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        overrides.setdefault("plan_limits", None)
        return settings_factory(**overrides)

    return build


@dataclass
class Billing:
    """The API in-process with the sandbox's Stripe over HTTP (its state at hand), and an owner."""

    app: FastAPI
    api: httpx.AsyncClient
    sandbox: str
    stripe: StripeState
    owner: Account

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(verify=tls_context(), timeout=10) as http:
            response = await http.post(f"{self.sandbox}/stripe/_control{path}", json=body or {})
        assert response.status_code < 300, response.text
        return response.json()

    async def stripe_api(self, method: str, path: str, data: dict[str, str] | None = None) -> Any:
        async with httpx.AsyncClient(verify=tls_context(), timeout=10) as http:
            response = await http.request(
                method,
                f"{self.sandbox}/stripe/v1{path}",
                data=data,
                headers={"Authorization": f"Bearer {sandbox_stripe.API_KEY}"},
            )
        assert response.status_code < 300, response.text
        return response.json()

    async def deliver(
        self,
        event: dict[str, Any],
        *,
        secret: str = sandbox_stripe.WEBHOOK_SECRET,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """Post an event to T21 as Stripe would, signed with `secret` at `timestamp`."""
        body = json.dumps(event).encode()
        return await self.api.post(
            "/api/v1/webhooks/stripe",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sandbox_stripe.sign(body, secret, timestamp),
            },
        )

    async def drain(self) -> None:
        assert isinstance(self.runtime.jobs, JobQueue)
        await self.runtime.jobs.drain(timeout=30)

    async def current(
        self, account: Account | None = None, organization_id: uuid.UUID | None = None
    ) -> dict[str, Any]:
        params = {"organization_id": str(organization_id)} if organization_id else {}
        response = await self.api.get(
            "/api/v1/subscriptions/current", params=params, headers=(account or self.owner).headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def stripe_state() -> StripeState:
    return StripeState()


@pytest.fixture
def stripe_sandbox(stripe_state: StripeState) -> Iterator[str]:
    app = Starlette(routes=[Mount("/stripe", app=create_stripe_app(stripe_state))])
    with ThreadedServer(app) as server:
        yield server.url


@pytest.fixture
async def billing(
    app_factory: Any, stripe_sandbox: str, stripe_state: StripeState
) -> AsyncIterator[Billing]:
    app = app_factory(
        sandbox_url=stripe_sandbox, public_url="http://testserver", frontend_url=FRONT_END
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            yield Billing(app, api, stripe_sandbox, stripe_state, owner)

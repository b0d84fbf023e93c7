"""The social-account tests run the API with the whole sandbox (every fake network) over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from t21.core.runtime import Runtime
from t21.core.tls import tls_context
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.server import ThreadedServer
from t21.worker.queue import JobQueue
from tests.support import loopback
from tests.support.accounts import Account, register

FRONT_END = "http://app.example.test"


@pytest.fixture
def sandbox() -> Iterator[str]:
    with ThreadedServer(create_sandbox_app()) as server:
        # Instagram processes media for seconds to minutes; tests that need it say so.
        instant = {"image_processing_s": 0, "video_processing_s": 0}
        loopback.post(f"{server.url}/instagram/_control/config", json=instant, timeout=10)
        yield server.url


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@dataclass
class World:
    """The API in-process, the sandbox over HTTP, and an owner with a brand."""

    app: FastAPI
    api: httpx.AsyncClient
    sandbox: str
    owner: Account
    brand_id: str

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def connect(
        self, platform: str, *, account: Account | None = None, brand_id: str | None = None
    ) -> httpx.Response:
        """The whole trip; T21's final answer (a redirect to the front end)."""
        who = account or self.owner
        started = await self.api.post(
            "/api/v1/social-accounts/connect",
            json={"brand_id": brand_id or self.brand_id, "platform": platform},
            headers=who.headers,
        )
        assert started.status_code == 200, started.text
        callback = await self.to_network(started.json()["authorization_url"])
        return await self.back_to_t21(callback)

    async def to_network(self, url: str) -> str:
        async with httpx.AsyncClient(verify=tls_context()) as http:
            answer = await http.get(url)
        assert answer.status_code in (302, 303), answer.text
        return str(answer.headers["location"]).split("#", 1)[0]

    async def back_to_t21(self, location: str) -> httpx.Response:
        parts = urlsplit(location)
        public = urlsplit(self.runtime.settings.resolved_public_url).netloc
        assert parts.netloc in ("testserver", public), location
        return await self.api.get(f"{parts.path}?{parts.query}")

    async def drain(self) -> None:
        """Run every job this app queued (and those they queue) to completion."""
        assert isinstance(self.runtime.jobs, JobQueue)
        await self.runtime.jobs.drain(timeout=20)

    async def connected_ids(self, platform: str) -> list[str]:
        finished = await self.connect(platform)
        assert finished.status_code == 302, finished.text
        params = query(finished.headers["location"])
        assert "connected" in params, params
        return params["connected"].split(",")

    def control(
        self, network: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> Any:
        response = loopback.request(
            method, f"{self.sandbox}/{network}/_control{path}", json=body, timeout=10
        )
        assert response.status_code < 300, response.text
        return response.json()


@pytest.fixture
async def world(app_factory: Any, sandbox: str) -> AsyncIterator[World]:
    async with world_of(app_factory, sandbox) as built:
        yield built


@asynccontextmanager
async def world_of(app_factory: Any, sandbox: str, **settings: Any) -> AsyncIterator[World]:
    """`world` with these settings of the app's besides."""
    app = app_factory(
        sandbox_url=sandbox, public_url="http://testserver", frontend_url=FRONT_END, **settings
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand = await api.post("/api/v1/brands", json={"name": "Acme"}, headers=owner.headers)
            assert brand.status_code == 201, brand.text
            yield World(app=app, api=api, sandbox=sandbox, owner=owner, brand_id=brand.json()["id"])

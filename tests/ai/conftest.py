"""The AI tests run the API in-process against the sandbox's fake OpenRouter over HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from t21.ai.models import AiCall
from t21.billing import usage
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.organizations.models import Organization
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.server import ThreadedServer
from tests.support import loopback
from tests.support.accounts import Account, register

AI = "/api/v1/ai"
BRAND = {
    "name": "Bean There",
    "description": "A neighbourhood coffee roaster in Leeds.",
    "voice": "Warm, witty, never salesy.",
    "target_audience": "Coffee lovers in their twenties and thirties.",
    "industry": "Food and drink",
    "keywords": ["single origin", "roastery"],
    "default_hashtags": ["#BeanThere", "#LeedsCoffee"],
}


@pytest.fixture
def sandbox() -> Iterator[str]:
    with ThreadedServer(create_sandbox_app()) as server:
        yield server.url


@dataclass
class Event:
    name: str
    data: Any


@dataclass
class Streamed:
    status: int
    headers: dict[str, str]
    chunks: list[bytes]  # the body as the server sent it, one ASGI message each

    @property
    def events(self) -> list[Event]:
        return parse_events(b"".join(self.chunks))


def parse_events(raw: bytes) -> list[Event]:
    found = []
    for block in raw.decode().split("\n\n"):
        name, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").strip())
        if data:
            found.append(Event(name, json.loads("\n".join(data))))
    return found


@dataclass
class Studio:
    """The API in-process, the fake OpenRouter over HTTP, and an owner with a described brand."""

    app: FastAPI
    api: httpx.AsyncClient
    sandbox: str
    owner: Account
    brand_id: str

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def organization_id(self) -> uuid.UUID:
        return self.owner.personal_organization_id

    async def post(
        self, path: str, body: dict[str, Any], account: Account | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = (account or self.owner).headers | kwargs.pop("headers", {})
        return await self.api.post(f"{AI}{path}", json=body, headers=headers, **kwargs)

    async def stream(
        self,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        leave_after: int | None = None,
    ) -> Streamed:
        """The endpoint asked for server-sent events, its body kept as the server sent it
        (httpx's in-process transport would gather it into one piece). With `leave_after`,
        the client disconnects once that many pieces of body have come."""
        sent: list[MutableMapping[str, Any]] = []
        enough = asyncio.Event()
        payload = json.dumps(body).encode()
        asked = False
        every = {"accept": "text/event-stream", "content-type": "application/json"}
        every |= {k.lower(): v for k, v in (headers or self.owner.headers).items()}
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": f"{AI}{path}",
            "raw_path": f"{AI}{path}".encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver")]
            + [(k.encode(), v.encode()) for k, v in every.items()],
            "client": ("127.0.0.1", 40000),
            "server": ("testserver", 80),
        }

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await enough.wait()  # the client stays until the answer ends, or leaves
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)
            pieces = [m for m in sent if m["type"] == "http.response.body" and m.get("body")]
            if leave_after is not None and len(pieces) >= leave_after:
                enough.set()

        await self.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        chunks = [m["body"] for m in sent if m["type"] == "http.response.body" and m.get("body")]
        head = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return Streamed(start["status"], head, chunks)

    def fake(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the fake OpenRouter's `/_control`."""
        url = f"{self.sandbox}/openrouter/_control{path}"
        response = loopback.post(url, json=body or {}, timeout=10)
        assert response.status_code < 300, response.text
        return response.json()

    def received(self) -> list[dict[str, Any]]:
        response = loopback.get(f"{self.sandbox}/openrouter/_control/requests", timeout=10)
        requests: list[dict[str, Any]] = response.json()["requests"]
        return requests

    async def calls(self) -> list[AiCall]:
        async with session_scope(self.runtime) as session:
            rows = await session.scalars(select(AiCall).order_by(AiCall.created_at, AiCall.id))
            return list(rows)

    async def credits_used(self, organization_id: uuid.UUID | None = None) -> int:
        async with session_scope(self.runtime) as session:
            counted = await usage.usage(session, organization_id or self.organization_id)
        return counted[usage.Metric.AI_CREDITS]

    async def use_credits(self, amount: int) -> None:
        async with session_scope(self.runtime) as session:
            await usage.increment(session, self.organization_id, usage.Metric.AI_CREDITS, amount)

    async def set_tier(self, tier: str) -> None:
        async with session_scope(self.runtime) as session:
            await session.execute(
                update(Organization)
                .where(Organization.id == self.organization_id)
                .values(tier=tier)
            )

    async def api_key(self, role: str) -> dict[str, str]:
        created = await self.api.post(
            f"/api/v1/organizations/{self.organization_id}/api-keys",
            json={"name": f"{role} key", "role": role},
            headers=self.owner.headers,
        )
        assert created.status_code == 201, created.text
        return {"Authorization": f"Bearer {created.json()['key']}"}


async def start_studio(app: FastAPI, sandbox: str) -> AsyncIterator[Studio]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand = await api.post("/api/v1/brands", json=BRAND, headers=owner.headers)
            assert brand.status_code == 201, brand.text
            yield Studio(app, api, sandbox, owner, brand.json()["id"])


@pytest.fixture
async def studio(app_factory: Any, sandbox: str) -> AsyncIterator[Studio]:
    app = app_factory(sandbox_url=sandbox, openrouter_timeout_s=1.0)
    async for studio in start_studio(app, sandbox):
        yield studio

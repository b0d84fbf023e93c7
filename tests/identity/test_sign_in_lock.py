"""A sign-in checks the password holding no transaction: on SQLite every transaction holds the
database's one write lock, and a burst of sign-ins (each ~0.2 s of Argon2) held it for seconds
while every other request waited."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from t21.core import security
from tests.support.accounts import PASSWORD, register


class GatedHasher:
    """The suite's hasher, whose password checks wait at a gate the test opens."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()

    def hash(self, password: str) -> str:
        return str(self.inner.hash(password))

    def verify(self, password: str, stored: str) -> bool:
        return bool(self.inner.verify(password, stored))

    def verify_and_update(self, password: str, stored: str) -> tuple[bool, str | None]:
        self.entered.set()
        self.gate.wait(timeout=30)
        result: tuple[bool, str | None] = self.inner.verify_and_update(password, stored)
        return result


async def test_other_requests_are_served_while_a_sign_in_checks_its_password(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short busy timeout: a request stuck behind the sign-in's lock fails (503) at once.
    app = app_factory(sqlite_busy_timeout_ms=500)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            signing_in = await register(api, "ada@example.com")
            other = await register(api, "grace@example.com")
            hasher = GatedHasher(security._password_hash)
            monkeypatch.setattr(security, "_password_hash", hasher)

            login = asyncio.create_task(
                api.post(
                    "/api/v1/auth/login",
                    json={"email": signing_in.email, "password": PASSWORD},
                )
            )
            try:
                assert await asyncio.to_thread(hasher.entered.wait, 10)
                # While the password is being checked: a read and a write of someone else.
                brands = await api.get("/api/v1/brands", headers=other.headers)
                created = await api.post(
                    "/api/v1/brands", json={"name": "Analytical"}, headers=other.headers
                )
                assert not login.done()
            finally:
                hasher.gate.set()
            signed_in = await login

    assert brands.status_code == 200, brands.text
    assert created.status_code == 201, created.text
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["access_token"]

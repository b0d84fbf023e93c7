"""A password is checked (or hashed) holding no transaction: on SQLite every transaction holds
the database's one write lock, and a burst of sign-ins (each ~0.2 s of Argon2) held it for
seconds while every other request waited. The same goes for every request that checks or sets
a password: changing it, deleting the account, a fresh proof, a reset link."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
import pyotp
import pytest

from t21.core import clock, security
from t21.core.runtime import Runtime
from t21.worker.queue import JobQueue
from tests.support.accounts import PASSWORD, Account, latest_token, register

AUTH = "/api/v1/auth"
NEW_PASSWORD = "a brand new passphrase"

Send = Callable[[], Coroutine[Any, Any, httpx.Response]]


class GatedHasher:
    """The suite's hasher, whose password checks and hashes wait at a gate the test opens."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()

    def _wait(self) -> None:
        self.entered.set()
        self.gate.wait(timeout=30)

    def hash(self, password: str) -> str:
        self._wait()
        return str(self.inner.hash(password))

    def verify(self, password: str, stored: str) -> bool:
        return bool(self.inner.verify(password, stored))

    def verify_and_update(self, password: str, stored: str) -> tuple[bool, str | None]:
        self._wait()
        result: tuple[bool, str | None] = self.inner.verify_and_update(password, stored)
        return result


async def _sign_in(api: httpx.AsyncClient, account: Account, runtime: Runtime) -> Send:
    return lambda: api.post(f"{AUTH}/login", json={"email": account.email, "password": PASSWORD})


async def _change_password(api: httpx.AsyncClient, account: Account, runtime: Runtime) -> Send:
    return lambda: api.post(
        f"{AUTH}/change-password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=account.headers,
    )


async def _delete_account(api: httpx.AsyncClient, account: Account, runtime: Runtime) -> Send:
    return lambda: api.request(
        "DELETE", f"{AUTH}/me", json={"password": PASSWORD}, headers=account.headers
    )


async def _fresh_proof(api: httpx.AsyncClient, account: Account, runtime: Runtime) -> Send:
    started = await api.post(f"{AUTH}/2fa/totp", headers=account.headers)
    assert started.status_code == 201, started.text
    code = pyotp.TOTP(started.json()["secret"]).at(clock.now())
    confirmed = await api.post(
        f"{AUTH}/2fa/totp/confirm", json={"code": code}, headers=account.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    return lambda: api.post(
        f"{AUTH}/2fa/recovery-codes", json={"password": PASSWORD}, headers=account.headers
    )


async def _reset_password(api: httpx.AsyncClient, account: Account, runtime: Runtime) -> Send:
    asked = await api.post(f"{AUTH}/forgot-password", json={"email": account.email})
    assert asked.status_code == 202, asked.text
    assert isinstance(runtime.jobs, JobQueue)
    token = await latest_token(runtime.jobs, runtime.settings, account.email, "/reset-password")
    return lambda: api.post(
        f"{AUTH}/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )


@pytest.mark.parametrize(
    ("prepare", "status"),
    [
        pytest.param(_sign_in, 200, id="sign-in"),
        pytest.param(_change_password, 204, id="change-password"),
        pytest.param(_delete_account, 204, id="delete-account"),
        pytest.param(_fresh_proof, 200, id="fresh-proof"),
        pytest.param(_reset_password, 200, id="reset-password"),
    ],
)
async def test_other_requests_are_served_while_a_password_is_checked(
    app_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
    prepare: Callable[[httpx.AsyncClient, Account, Runtime], Awaitable[Send]],
    status: int,
) -> None:
    # A short busy timeout: a request stuck behind the password check's lock fails (503) at once.
    app = app_factory(sqlite_busy_timeout_ms=500)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            checking = await register(api, "ada@example.com")
            other = await register(api, "grace@example.com")
            send = await prepare(api, checking, app.state.runtime)
            hasher = GatedHasher(security._password_hash)
            monkeypatch.setattr(security, "_password_hash", hasher)

            checked = asyncio.create_task(send())
            try:
                assert await asyncio.to_thread(hasher.entered.wait, 10)
                # While the password is being checked: a read and a write of someone else.
                brands = await api.get("/api/v1/brands", headers=other.headers)
                created = await api.post(
                    "/api/v1/brands", json={"name": "Analytical"}, headers=other.headers
                )
                assert not checked.done()
            finally:
                hasher.gate.set()
            answer = await checked

    assert brands.status_code == 200, brands.text
    assert created.status_code == 201, created.text
    assert answer.status_code == status, answer.text

"""Failed sign-ins are throttled per account and per IP, the same for unknown accounts, and the
throttle lifts once its window has passed."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.core.test_http import assert_problem
from tests.support.accounts import PASSWORD, register
from tests.support.windows import fresh_window, window_passed


def _client(app: FastAPI, ip: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def _login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_failures_per_account_are_throttled(app_factory: Any) -> None:
    app = app_factory(login_failures_per_account="3/minute", login_failures_per_ip="100/minute")
    async with app.router.lifespan_context(app), _client(app) as http:
        account = await register(http, "target@example.com")
        await fresh_window(60, needed_s=6)
        answers = [await _login(http, account.email, "wrong password!") for _ in range(3)]
        assert [a.status_code for a in answers] == [401, 401, 401]
        throttled = await _login(http, account.email, PASSWORD)
        body = assert_problem(throttled, 429, "rate_limited")
        assert int(throttled.headers["retry-after"]) >= 1
        assert "failed sign-ins" in body["detail"]
        # Another IP is refused too: the account is what is protected.
        async with _client(app, "198.51.100.9") as elsewhere:
            assert (await _login(elsewhere, account.email, PASSWORD)).status_code == 429


async def test_the_throttle_lifts_when_its_window_has_passed(app_factory: Any) -> None:
    app = app_factory(login_failures_per_account="1/2 seconds", login_failures_per_ip="100/minute")
    async with app.router.lifespan_context(app), _client(app) as http:
        account = await register(http, "patient@example.com")
        await fresh_window(2, needed_s=1.5)
        assert (await _login(http, account.email, "wrong password!")).status_code == 401
        assert (await _login(http, account.email, PASSWORD)).status_code == 429
        await window_passed(2)
        assert (await _login(http, account.email, PASSWORD)).status_code == 200


async def test_unknown_accounts_are_throttled_exactly_like_known_ones(app_factory: Any) -> None:
    app = app_factory(login_failures_per_account="2/minute", login_failures_per_ip="100/minute")
    async with app.router.lifespan_context(app), _client(app) as http:
        await register(http, "known@example.com")
        await fresh_window(60, needed_s=6)
        known = [await _login(http, "known@example.com", "bad one!") for _ in range(3)]
        unknown = [await _login(http, "ghost@example.com", "bad one!") for _ in range(3)]
    assert [a.status_code for a in known] == [a.status_code for a in unknown] == [401, 401, 429]
    assert known[-1].json()["detail"].split(";")[0] == unknown[-1].json()["detail"].split(";")[0]


async def test_failures_per_ip_are_throttled_across_accounts(app_factory: Any) -> None:
    app = app_factory(login_failures_per_account="100/minute", login_failures_per_ip="4/minute")
    async with app.router.lifespan_context(app), _client(app) as http:
        await fresh_window(60, needed_s=6)
        answers = [await _login(http, f"guess{i}@example.com", "nope nope!") for i in range(5)]
        assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
        async with _client(app, "198.51.100.10") as other_ip:
            assert (await _login(other_ip, "guess9@example.com", "nope nope!")).status_code == 401


async def test_a_successful_sign_in_clears_the_account_count(app_factory: Any) -> None:
    app = app_factory(login_failures_per_account="3/minute", login_failures_per_ip="100/minute")
    async with app.router.lifespan_context(app), _client(app) as http:
        account = await register(http, "forgetful@example.com")
        await fresh_window(60, needed_s=6)
        for _ in range(2):
            await _login(http, account.email, "wrong password!")
        assert (await _login(http, account.email, PASSWORD)).status_code == 200
        for _ in range(2):
            assert (await _login(http, account.email, "wrong password!")).status_code == 401
        assert (await _login(http, account.email, PASSWORD)).status_code == 200

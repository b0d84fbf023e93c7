"""Failed sign-ins are throttled per account and per IP, the same for unknown accounts, and the
throttle lifts once its window has passed."""

from __future__ import annotations

import asyncio
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


async def test_concurrent_wrong_passwords_check_no_more_passwords_than_the_limit(
    app_factory: Any,
) -> None:
    app = app_factory(
        login_failures_per_account_ip="5/minute",
        login_failures_per_account="100/minute",
        login_failures_per_ip="100/minute",
    )
    async with app.router.lifespan_context(app), _client(app) as http:
        account = await register(http, "raced@example.com")
        await fresh_window(60, needed_s=20)
        answers = await asyncio.gather(
            *(_login(http, account.email, f"wrong password {i}") for i in range(40))
        )
    statuses = sorted(a.status_code for a in answers)
    # Each 401 is a password that was checked: exactly the limit, however the 40 interleave.
    assert statuses == [401] * 5 + [429] * 35


async def test_a_flood_from_one_ip_does_not_lock_the_owner_out(app_factory: Any) -> None:
    # The default policy's shape (5 per account and IP, 20 per account) in a shorter window.
    app = app_factory(
        login_failures_per_account_ip="5/minute",
        login_failures_per_account="20/minute",
        login_failures_per_ip="50/minute",
    )
    async with app.router.lifespan_context(app), _client(app, "203.0.113.66") as attacker:
        account = await register(attacker, "owner@example.com")
        await fresh_window(60, needed_s=10)
        answers = [await _login(attacker, account.email, "guess guess!") for _ in range(12)]
        assert [a.status_code for a in answers] == [401] * 5 + [429] * 7
        # The attacker's own correct-looking tries stay refused...
        assert (await _login(attacker, account.email, PASSWORD)).status_code == 429
        # ...while the owner, from their own address, signs in.
        async with _client(app, "198.51.100.20") as owner:
            assert (await _login(owner, account.email, PASSWORD)).status_code == 200


async def test_guesses_spread_over_many_ips_lock_the_account(app_factory: Any) -> None:
    app = app_factory(
        login_failures_per_account_ip="5/minute",
        login_failures_per_account="6/minute",
        login_failures_per_ip="100/minute",
    )
    async with app.router.lifespan_context(app):
        async with _client(app) as http:
            account = await register(http, "spread@example.com")
        await fresh_window(60, needed_s=10)
        answers = []
        for index in range(8):
            async with _client(app, f"192.0.2.{index + 1}") as botnet:
                answers.append(await _login(botnet, account.email, "guess guess!"))
        assert [a.status_code for a in answers] == [401] * 6 + [429] * 2


async def test_registrations_are_throttled_per_ip(app_factory: Any) -> None:
    app = app_factory(registrations_per_ip="3/hour")
    async with app.router.lifespan_context(app), _client(app) as http:
        await fresh_window(3600, needed_s=60)
        made = [
            await http.post(
                "/api/v1/auth/register",
                json={"email": f"bulk{i}@example.com", "password": PASSWORD, "name": "Bulk"},
            )
            for i in range(4)
        ]
        assert [r.status_code for r in made[:3]] == [201, 201, 201]
        assert_problem(made[3], 429, "rate_limited")
        assert int(made[3].headers["retry-after"]) >= 1
        # Nothing was created by the refused request.
        refused = await _login(http, "bulk3@example.com", PASSWORD)
        assert refused.status_code == 401
        async with _client(app, "198.51.100.30") as elsewhere:
            assert (await register(elsewhere, "bulk4@example.com")).email == "bulk4@example.com"

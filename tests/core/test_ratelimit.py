"""Rate limits: RateLimit-* headers everywhere, 429 with Retry-After, per-route limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.core.test_http import assert_problem
from tests.support.windows import fresh_window, window_passed


async def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_every_api_response_carries_rate_limit_headers(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/does-not-exist", "/api/v1/_test/conflict", "/openapi.json"):
        response = await client.get(path)
        assert response.headers["ratelimit-limit"] == "600"
        remaining = int(response.headers["ratelimit-remaining"])
        assert 0 <= remaining < 600
        assert int(response.headers["ratelimit-reset"]) >= 0


async def test_health_checks_are_not_metered(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert "ratelimit-limit" not in response.headers


async def test_per_ip_limit_answers_429_with_retry_after(app_factory: Any) -> None:
    app = app_factory(rate_limit_per_ip="3/minute")
    await fresh_window(60, needed_s=4)
    async with app.router.lifespan_context(app), await _client(app) as http:
        answers = [await http.get("/api/v1/does-not-exist") for _ in range(4)]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
    limited = answers[3]
    body = assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert body["request_id"] == limited.headers["x-request-id"]
    assert limited.headers["ratelimit-remaining"] == "0"


async def test_stripe_webhooks_are_not_held_back_by_the_per_ip_limit(app_factory: Any) -> None:
    app = app_factory(
        rate_limit_per_ip="2/minute",
        stripe_api_key="sk_test_x",
        stripe_webhook_secrets="whsec_test",
    )
    await fresh_window(60, needed_s=4)
    async with app.router.lifespan_context(app), await _client(app) as http:
        hooks = [
            await http.post(
                "/api/v1/webhooks/stripe",
                content=b"{}",
                headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
            )
            for _ in range(4)
        ]
        others = [await http.get("/api/v1/does-not-exist") for _ in range(3)]
    # Refused for their signature, never for their number.
    assert [hook.status_code for hook in hooks] == [400] * 4
    assert [other.status_code for other in others] == [404, 404, 429]


async def test_other_clients_are_not_affected(app_factory: Any) -> None:
    app = app_factory(rate_limit_per_ip="1/minute")
    await fresh_window(60, needed_s=4)
    async with app.router.lifespan_context(app):
        first = httpx.ASGITransport(app=app, client=("10.0.0.1", 1000))
        second = httpx.ASGITransport(app=app, client=("10.0.0.2", 1000))
        async with httpx.AsyncClient(transport=first, base_url="http://t") as a:
            assert (await a.get("/api/v1/x")).status_code == 404
            assert (await a.get("/api/v1/x")).status_code == 429
        async with httpx.AsyncClient(transport=second, base_url="http://t") as b:
            assert (await b.get("/api/v1/x")).status_code == 404


async def test_route_limit_is_stricter_and_reported_in_headers(client: httpx.AsyncClient) -> None:
    await fresh_window(60, needed_s=4)
    answers = [await client.get("/api/v1/_test/limited") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["ratelimit-limit"] == "2"
    assert answers[1].headers["ratelimit-remaining"] == "0"
    assert_problem(answers[2], 429, "rate_limited")
    assert int(answers[2].headers["retry-after"]) >= 1
    assert answers[2].headers.get_list("ratelimit-limit") == ["2"]
    assert answers[2].headers.get_list("ratelimit-remaining") == ["0"]


async def test_limits_lift_when_the_window_passes(app_factory: Any) -> None:
    app = app_factory(rate_limit_per_ip="2/2 seconds")
    async with app.router.lifespan_context(app), await _client(app) as http:
        await fresh_window(2, needed_s=1.5)
        assert [(await http.get("/api/v1/x")).status_code for _ in range(3)] == [404, 404, 429]
        await window_passed(2)
        assert (await http.get("/api/v1/x")).status_code == 404


async def test_rate_limiting_can_be_turned_off(app_factory: Any) -> None:
    app = app_factory(rate_limit_enabled=False, rate_limit_per_ip="1/minute")
    async with app.router.lifespan_context(app), await _client(app) as http:
        answers = [await http.get("/api/v1/x") for _ in range(3)]
    assert {a.status_code for a in answers} == {404}
    assert "ratelimit-limit" not in answers[0].headers


async def test_each_principal_has_its_own_limit_whatever_its_address(app_factory: Any) -> None:
    from tests.support.accounts import create_api_key, register

    app = app_factory(rate_limit_per_principal="3/minute")
    await fresh_window(60, needed_s=15)
    async with app.router.lifespan_context(app), await _client(app) as http:
        first = await register(http)  # reads /me once
        key = await create_api_key(http, first, first.personal_organization_id, role="admin")
        assert (await http.get("/api/v1/auth/me", headers=first.headers)).status_code == 200
        limited = await http.get("/api/v1/auth/me", headers=first.headers)
        assert_problem(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["ratelimit-limit"] == "3"
        # Same address, other principals: a second user, and the first user's own API key.
        second = await register(http)
        assert (await http.get("/api/v1/auth/me", headers=second.headers)).status_code == 200
        as_key = await http.get(
            f"/api/v1/organizations/{first.personal_organization_id}",
            headers={"Authorization": f"Bearer {key['key']}"},
        )
        assert as_key.status_code == 200, as_key.text
        assert as_key.headers["ratelimit-remaining"] == "2"


@pytest.mark.redis
async def test_counters_are_shared_between_api_processes(app_factory: Any) -> None:
    first = app_factory(rate_limit_per_ip="2/minute")
    second = app_factory(rate_limit_per_ip="2/minute")
    await fresh_window(60, needed_s=4)
    async with (
        first.router.lifespan_context(first),
        second.router.lifespan_context(second),
        await _client(first) as a,
        await _client(second) as b,
    ):
        assert (await a.get("/api/v1/x")).status_code == 404
        assert (await b.get("/api/v1/x")).status_code == 404
        assert (await a.get("/api/v1/x")).status_code == 429
        assert (await b.get("/api/v1/x")).status_code == 429


@pytest.mark.redis
async def test_an_unreachable_counter_store_lets_requests_through(app: FastAPI) -> None:
    from redis.asyncio import Redis

    from t21.core.ratelimit import RateLimiter

    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        async with app.router.lifespan_context(app):
            app.state.rate_limiter = RateLimiter(dead)
            async with await _client(app) as http:
                response = await http.get("/api/v1/x")
    finally:
        await dead.aclose()
    assert response.status_code == 404
    assert "ratelimit-limit" not in response.headers


async def test_hits_on_several_limits_stop_at_the_first_refusal_and_share_the_counters(
    started_app: FastAPI,
) -> None:
    from limits import parse

    from t21.core.ratelimit import RateLimiter

    limiter: RateLimiter = started_app.state.rate_limiter
    tight, loose = parse("2/minute"), parse("5/minute")
    await fresh_window(60, needed_s=4)
    hits = [(tight, ("test", "tight")), (loose, ("test", "loose"))]
    first = await limiter.hit_all(hits)
    second = await limiter.hit_all(hits)
    assert first is not None
    assert second is not None
    assert [(r.allowed, r.limit, r.remaining) for r in first] == [(True, 2, 1), (True, 5, 4)]
    assert [(r.allowed, r.remaining) for r in second] == [(True, 0), (True, 3)]
    # The tight limit refuses: the loose one is not counted.
    [refused] = await limiter.hit_all(hits) or []
    assert (refused.allowed, refused.remaining) == (False, 0)
    assert refused.reset_after >= 1
    # The same counters as one limit's own hits, `exhausted` and `clear`.
    assert await limiter.exhausted(tight, "test", "tight") is not None
    alone = await limiter.hit(loose, "test", "loose")
    assert alone is not None
    assert alone.remaining == 2
    await limiter.clear(tight, "test", "tight")
    again = await limiter.hit_all(hits)
    assert again is not None
    assert [(r.allowed, r.remaining) for r in again] == [(True, 1), (True, 1)]


@pytest.mark.redis
async def test_a_known_principal_meets_its_limit_and_the_ips_in_one_round_trip(
    app_factory: Any,
) -> None:
    from tests.support.accounts import register

    app = app_factory(rate_limit_per_principal="4/minute")
    await fresh_window(60, needed_s=10)
    async with app.router.lifespan_context(app), await _client(app) as http:
        user = await register(http)  # reads /me once: the principal is then in the cache
        limiter = app.state.rate_limiter
        scripts: list[int] = []
        single_hits: list[str] = []
        script, strategy_hit = limiter._hit_all, limiter.strategy.hit

        async def counted_script(keys: list[str], args: list[int]) -> Any:
            scripts.append(len(keys) // 2)
            return await script(keys, args)

        async def counted_hit(*args: Any, **kwargs: Any) -> bool:
            single_hits.append(repr(args))
            return bool(await strategy_hit(*args, **kwargs))

        limiter._hit_all, limiter.strategy.hit = counted_script, counted_hit
        me = await http.get("/api/v1/auth/me", headers=user.headers)
        assert me.status_code == 200, me.text
        assert scripts == [2]  # the IP's limit and the principal's, one script call
        assert single_hits == []
        assert me.headers["ratelimit-limit"] == "4"
        assert me.headers["ratelimit-remaining"] == "2"
        for _ in range(2):
            assert (await http.get("/api/v1/auth/me", headers=user.headers)).status_code == 200
        limited = await http.get("/api/v1/auth/me", headers=user.headers)
        assert_problem(limited, 429, "rate_limited")
        assert limited.headers["ratelimit-limit"] == "4"
        assert int(limited.headers["retry-after"]) >= 1

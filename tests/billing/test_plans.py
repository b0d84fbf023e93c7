"""The plans as data: served publicly, overridable by settings, and one check that refuses an
action past a limit with the limit, the usage and the tier."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from t21.billing.plans import Limit, enforce
from t21.core.errors import ConfigError, QuotaExceeded
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from tests.support.accounts import register


async def test_the_plans_are_public_with_their_prices_and_limits(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/plans")
    assert response.status_code == 200
    by_tier = {plan["tier"]: plan for plan in response.json()["items"]}
    assert list(by_tier) == ["free", "pro", "business"]
    assert (by_tier["pro"]["price"], by_tier["pro"]["currency"]) == (700, "gbp")
    assert by_tier["business"]["price"] == 3500
    assert by_tier["free"]["limits"] == {
        "brands": 1,
        "social_accounts": 3,
        "published_posts": 30,
        "ai_credits": 50,
        "seats": 1,
    }
    assert by_tier["pro"]["limits"]["seats"] == 3
    assert by_tier["business"]["limits"]["published_posts"] == 5000
    assert by_tier["free"]["ai_models"] == "small"
    assert by_tier["pro"]["ai_models"] == "all"


async def test_settings_override_any_limit(app_factory: Any) -> None:
    app = app_factory(plan_limits={"pro": {"brands": 10}})
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = (await client.get("/api/v1/plans")).json()
    pro = next(plan for plan in body["items"] if plan["tier"] == "pro")
    assert pro["limits"]["brands"] == 10
    assert pro["limits"]["seats"] == 3


def test_unknown_tiers_or_limits_in_the_override_are_configuration_errors(
    settings_factory: Any,
) -> None:
    for bad in ({"gold": {"brands": 1}}, {"pro": {"rockets": 1}}, {"pro": {"brands": -1}}):
        with pytest.raises(ConfigError, match="T21_PLAN_LIMITS"):
            settings_factory(plan_limits=bad)


async def test_enforce_passes_at_the_limit_and_refuses_one_more(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await register(client)
    organization = owner.personal_organization_id
    async with session_scope(runtime) as session:
        await enforce(session, runtime.settings, organization, Limit.BRANDS)
    created = await client.post("/api/v1/brands", json={"name": "One"}, headers=owner.headers)
    assert created.status_code == 201
    async with session_scope(runtime) as session:
        with pytest.raises(QuotaExceeded) as refused:
            await enforce(session, runtime.settings, organization, Limit.BRANDS)
    problem = refused.value.problem()
    assert problem["code"] == "quota_exceeded"
    assert problem["status"] == 402
    assert (problem["limit"], problem["used"], problem["allowed"], problem["tier"]) == (
        "brands",
        1,
        1,
        "free",
    )
    async with session_scope(runtime) as session:
        await enforce(session, runtime.settings, organization, Limit.SEATS, adding=0)
        with pytest.raises(QuotaExceeded):
            await enforce(session, runtime.settings, organization, Limit.SEATS)

"""Social accounts and monthly usage write events an app can act on."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from t21.billing import usage
from t21.core import clock
from t21.core.uow import session_scope
from t21.social.models import SocialAccount
from tests.events.conftest import list_events, types_of
from tests.posts.conftest import POSTS
from tests.publishing.conftest import Engine

ACCOUNTS = "/api/v1/social-accounts"


async def test_connecting_losing_and_disconnecting_an_account_are_events(engine: Engine) -> None:
    account_id = await engine.account("linkedin")
    [connected] = (await list_events(engine.api, engine.owner.headers))["items"]
    assert connected["type"] == "social_account.connected"
    shown = await engine.api.get(f"{ACCOUNTS}/{account_id}", headers=engine.owner.headers)
    assert connected["data"] == shown.json()
    post = await engine.draft("linkedin", content="Revoked")
    engine.world.control("linkedin", "POST", "/tokens/revoke", {})
    await engine.api.post(f"{POSTS}/{post['id']}/publish", headers=engine.owner.headers)
    await engine.tick()
    [lost] = (
        await list_events(engine.api, engine.owner.headers, type="social_account.reauth_required")
    )["items"]
    assert lost["data"]["id"] == account_id
    assert lost["data"]["status"] == "reauth_required"
    assert lost["data"]["last_error"]
    gone = await engine.api.delete(f"{ACCOUNTS}/{account_id}", headers=engine.owner.headers)
    assert gone.status_code == 204
    [disconnected] = (
        await list_events(engine.api, engine.owner.headers, type="social_account.disconnected")
    )["items"]
    assert disconnected["data"]["id"] == account_id
    assert disconnected["data"]["status"] == "disconnected"
    assert await types_of(engine, type="social_account.reauth_required") == [
        "social_account.reauth_required"
    ]


async def test_a_token_that_cannot_be_refreshed_warns_once_before_it_expires(
    engine: Engine,
) -> None:
    account_id = (await engine.world.connected_ids("facebook"))[0]
    async with session_scope(engine.world.runtime) as session:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == uuid.UUID(account_id))
            .values(token_expires_at=clock.now() + timedelta(seconds=60))
        )
    for _ in range(2):
        await engine.loops.run_once("social.refresh_tokens")
        await engine.world.drain()
    [expiring] = (
        await list_events(engine.api, engine.owner.headers, type="social_account.expiring")
    )["items"]
    assert expiring["data"]["id"] == account_id
    assert expiring["data"]["status"] == "active"
    assert expiring["data"]["token_expires_at"] is not None


async def test_usage_warns_at_80_and_100_percent_of_the_monthly_quota_once_each(
    engine: Engine,
) -> None:
    runtime = engine.world.runtime
    organization = engine.owner.personal_organization_id
    async with session_scope(runtime) as session:
        await usage.increment(session, organization, usage.Metric.PUBLISHED_POSTS, 23)
    await engine.publish_now("twitter", content="The 24th")
    await engine.tick()
    await engine.publish_now("twitter", content="The 25th")
    await engine.tick()
    [eighty] = (await list_events(engine.api, engine.owner.headers, type="usage.warning"))["items"]
    assert eighty["data"] == {
        "metric": "published_posts",
        "period": usage.period_of(clock.now()),
        "threshold": 80,
        "used": 24,
        "limit": 30,
        "tier": "free",
    }
    async with session_scope(runtime) as session:
        await usage.increment(session, organization, usage.Metric.PUBLISHED_POSTS, 4)
    await engine.publish_now("twitter", content="The 30th")
    await engine.tick()
    warnings = (await list_events(engine.api, engine.owner.headers, type="usage.warning"))["items"]
    assert [(w["data"]["threshold"], w["data"]["used"]) for w in warnings] == [(100, 30), (80, 24)]

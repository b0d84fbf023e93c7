"""The month's published posts at each tier's boundary: the last one fits, the next fails."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from t21.billing import usage
from t21.core.uow import session_scope
from t21.organizations.models import Organization
from tests.publishing.conftest import Engine

POSTS_A_MONTH = {"free": 30, "pro": 500, "business": 5_000}


@pytest.mark.parametrize("tier", sorted(POSTS_A_MONTH))
async def test_each_tiers_published_posts_hold_at_the_boundary(engine: Engine, tier: str) -> None:
    organization = engine.owner.personal_organization_id
    async with session_scope(engine.world.runtime) as session:
        await session.execute(
            update(Organization).where(Organization.id == organization).values(tier=tier)
        )
        await usage.increment(
            session, organization, usage.Metric.PUBLISHED_POSTS, POSTS_A_MONTH[tier] - 1
        )
    last = await engine.publish_now("twitter", content=f"The last {tier} post")
    await engine.tick()
    assert (await engine.read(last["id"]))["status"] == "published"
    over = await engine.publish_now("twitter", content=f"One more {tier} post")
    await engine.tick()
    [target] = (await engine.read(over["id"]))["targets"]
    assert target["status"] == "failed"
    assert target["last_error"]["code"] == "quota_exceeded"
    assert str(POSTS_A_MONTH[tier]) in target["last_error"]["message"]
    assert len(engine.published_at_network("twitter")) == 1

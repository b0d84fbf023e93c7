"""Usage counters: one row per organization and month, atomic increments, history kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from t21.billing import usage
from t21.billing.usage import Metric
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from tests.support.accounts import Account, register


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await register(client)


async def test_increments_add_up_per_month_and_keep_the_history(
    runtime: Runtime, owner: Account
) -> None:
    organization = owner.personal_organization_id
    november = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    december = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    async with session_scope(runtime) as session:
        await usage.increment(session, organization, Metric.PUBLISHED_POSTS, at=november)
        await usage.increment(session, organization, Metric.PUBLISHED_POSTS, at=december)
        await usage.increment(session, organization, Metric.PUBLISHED_POSTS, at=december)
        await usage.increment(session, organization, Metric.AI_CREDITS, 7, at=december)
    async with session_scope(runtime) as session:
        assert await usage.usage(session, organization, at=november) == {
            Metric.PUBLISHED_POSTS: 1,
            Metric.AI_CREDITS: 0,
        }
        assert await usage.usage(session, organization, at=december) == {
            Metric.PUBLISHED_POSTS: 2,
            Metric.AI_CREDITS: 7,
        }
        empty = await usage.usage(session, organization, at=datetime(2027, 1, 5, tzinfo=UTC))
        assert empty == {Metric.PUBLISHED_POSTS: 0, Metric.AI_CREDITS: 0}


async def test_a_rolled_back_increment_counts_nothing(runtime: Runtime, owner: Account) -> None:
    organization = owner.personal_organization_id

    async def failing_change() -> None:
        async with session_scope(runtime) as session:
            await usage.increment(session, organization, Metric.PUBLISHED_POSTS)
            raise RuntimeError("the change it counted failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with session_scope(runtime) as session:
        assert (await usage.usage(session, organization))[Metric.PUBLISHED_POSTS] == 0


@pytest.mark.postgres
async def test_concurrent_increments_never_lose_one(runtime: Runtime, owner: Account) -> None:
    organization = owner.personal_organization_id

    async def one(amount: int) -> None:
        async with session_scope(runtime) as session:
            await usage.increment(session, organization, Metric.AI_CREDITS, amount)
            await usage.increment(session, organization, Metric.PUBLISHED_POSTS)

    await asyncio.gather(*(one(amount) for amount in range(1, 41)))
    async with session_scope(runtime) as session:
        counted = await usage.usage(session, organization)
    assert counted == {Metric.PUBLISHED_POSTS: 40, Metric.AI_CREDITS: sum(range(1, 41))}

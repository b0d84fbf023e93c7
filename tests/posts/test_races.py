"""Changes to a post against the dispatcher's claims, on PostgreSQL where they truly run at once:
a claim in progress makes a reschedule wait and then refuse; a change in progress is passed by."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from t21.core import clock
from t21.core.db import for_claim
from t21.core.uow import session_scope
from t21.posts.models import PostTarget, TargetStatus
from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk

pytestmark = pytest.mark.postgres


def later(days: float) -> str:
    return (clock.now() + timedelta(days=days)).isoformat()


async def test_a_reschedule_waits_for_a_claim_in_progress_then_refuses(desk: Desk) -> None:
    post = await desk.draft("twitter", scheduled_at=later(1))
    post_id = uuid.UUID(post["id"])
    runtime = desk.world.runtime
    claimed, release = asyncio.Event(), asyncio.Event()

    async def dispatcher() -> None:
        async with session_scope(runtime) as session:
            statement = select(PostTarget).where(PostTarget.post_id == post_id)
            for target in await session.scalars(for_claim(statement, session)):
                target.status = TargetStatus.QUEUED
            await session.flush()
            claimed.set()
            await release.wait()

    claim = asyncio.create_task(dispatcher())
    await claimed.wait()
    reschedule = asyncio.create_task(
        desk.api.post(
            f"{POSTS}/{post_id}/schedule",
            json={"scheduled_at": later(3)},
            headers=desk.owner.headers,
        )
    )
    await asyncio.sleep(0.5)
    assert not reschedule.done(), "the reschedule must wait for the claim's transaction"
    release.set()
    await claim
    assert_problem(await reschedule, 409, "conflict")
    after = await desk.api.get(f"{POSTS}/{post_id}", headers=desk.owner.headers)
    assert after.json()["targets"][0]["status"] == "queued"
    assert after.json()["scheduled_at"] == post["scheduled_at"]


async def test_the_dispatcher_passes_by_targets_a_change_holds(desk: Desk) -> None:
    post = await desk.draft("twitter", scheduled_at=later(-0.0001))
    post_id = uuid.UUID(post["id"])
    runtime = desk.world.runtime
    async with session_scope(runtime) as editing:
        held = await editing.scalars(
            select(PostTarget).where(PostTarget.post_id == post_id).with_for_update()
        )
        assert len(list(held)) == 1
        async with runtime.sessionmaker() as dispatching:
            statement = select(PostTarget).where(
                PostTarget.status == TargetStatus.SCHEDULED, PostTarget.post_id == post_id
            )
            assert list(await dispatching.scalars(for_claim(statement, dispatching))) == []
            await dispatching.rollback()

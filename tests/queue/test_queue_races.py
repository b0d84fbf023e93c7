"""Posts queued at the same moment on PostgreSQL, where requests truly run at once: each takes
its own slot, because taking one locks the brand's row."""

from __future__ import annotations

import asyncio

import pytest

from tests.posts.conftest import Desk
from tests.queue.test_queue import EVERY_DAY, next_slots, set_slots

pytestmark = pytest.mark.postgres


async def test_posts_queued_at_once_each_take_a_different_slot(desk: Desk) -> None:
    await set_slots(desk, EVERY_DAY, "America/New_York")
    expected = [item["at"] for item in await next_slots(desk, 6)]
    x = await desk.account("twitter")
    answers = await asyncio.gather(
        *(
            desk.create(
                expect=None,
                content=f"Queued at once {n}",
                targets=[{"social_account_id": x}],
                schedule="queue",
            )
            for n in range(6)
        )
    )
    assert [answer.status_code for answer in answers] == [201] * 6
    assert sorted(answer.json()["scheduled_at"] for answer in answers) == expected
    assert (await next_slots(desk, 1))[0]["at"] not in expected

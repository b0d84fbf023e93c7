"""The duplicate guard under concurrency, on PostgreSQL where requests truly run at once: two
creates of the same text on the same account at the same moment never both pass."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from t21.core import clock
from tests.posts.conftest import POSTS, Desk

pytestmark = pytest.mark.postgres


async def test_concurrent_creates_of_the_same_text_on_one_account_let_one_through(
    desk: Desk,
) -> None:
    x = await desk.account("twitter")
    when = (clock.now() + timedelta(days=1)).isoformat()
    body = {
        "brand_id": desk.brand_id,
        "content": "Flash sale, today only",
        "targets": [{"social_account_id": x}],
        "scheduled_at": when,
    }
    answers = await asyncio.gather(
        *(desk.api.post(POSTS, json=body, headers=desk.owner.headers) for _ in range(6))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
    [created] = [answer.json() for answer in answers if answer.status_code == 201]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["code"] == "duplicate_content"
            assert answer.json()["post_id"] == created["id"]
    listed = await desk.api.get(
        POSTS, params={"brand_id": desk.brand_id}, headers=desk.owner.headers
    )
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]

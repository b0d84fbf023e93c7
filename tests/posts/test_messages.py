"""Messages meant for people say what happened in their words: the network's own name, and
what "publish now" means for a post that is already out."""

from __future__ import annotations

from datetime import timedelta

from t21.core import clock
from t21.posts.models import TargetStatus
from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk


def _later() -> str:
    return (clock.now() + timedelta(days=1)).isoformat()


async def test_publish_now_on_a_published_post_says_it_is_published(desk: Desk) -> None:
    post = await desk.draft("twitter", scheduled_at=_later())
    await desk.set_targets(post["id"], TargetStatus.PUBLISHED)
    again = await desk.api.post(f"{POSTS}/{post['id']}/publish", headers=desk.owner.headers)
    problem = assert_problem(again, 409, "conflict")
    assert problem["detail"] == "This post is already published: there is nothing left to publish."
    moved = await desk.api.post(
        f"{POSTS}/{post['id']}/schedule",
        json={"scheduled_at": _later()},
        headers=desk.owner.headers,
    )
    assert "nothing left to schedule" in assert_problem(moved, 409, "conflict")["detail"]


async def test_refusals_name_the_network_as_people_know_it(desk: Desk) -> None:
    post = await desk.draft("twitter", scheduled_at=_later())
    await desk.set_targets(post["id"], TargetStatus.PUBLISHED)
    edit = await desk.api.patch(
        f"{POSTS}/{post['id']}", json={"content": "Changed"}, headers=desk.owner.headers
    )
    detail = assert_problem(edit, 409, "conflict")["detail"]
    assert "its X target is already published" in detail
    assert "twitter" not in detail

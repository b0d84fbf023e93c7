"""`GET /posts/{id}/approvals`: every decision on a post stays readable, oldest first, with who
made it (a user, an API key, or a reviewer by name through a link), what, why and when."""

from __future__ import annotations

from datetime import datetime

from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk
from tests.review.helpers import act, key_headers, member, require_approval, scheduled
from tests.review.test_review_links import REVIEW, link
from tests.support.accounts import register


async def history(desk: Desk, post_id: str, headers: dict[str, str]) -> list[dict[str, object]]:
    answer = await desk.api.get(f"{POSTS}/{post_id}/approvals", headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()["items"]
    return items


async def test_every_decision_stays_readable_oldest_first_with_who_made_it(desk: Desk) -> None:
    await require_approval(desk)
    writer = await member(desk)
    post = await scheduled(desk, writer.headers)
    assert await history(desk, post["id"], writer.headers) == []

    rejected = await act(desk, desk.owner.headers, post["id"], "reject", {"comment": "Too loud"})
    assert rejected.status_code == 200, rejected.text
    rescheduled = await act(
        desk, writer.headers, post["id"], "schedule", {"scheduled_at": post["scheduled_at"]}
    )
    assert rescheduled.json()["status"] == "pending_approval", rescheduled.text
    made = await link(desk, post["id"])
    by_link = await desk.api.post(
        f"{REVIEW}/{made['token']}",
        json={"decision": "reject", "name": "Sam from Client Co", "comment": "Wrong date"},
    )
    assert by_link.status_code == 200, by_link.text
    await act(desk, writer.headers, post["id"], "schedule", {"scheduled_at": post["scheduled_at"]})
    admin_key = await key_headers(desk, "admin")
    approved = await act(desk, admin_key, post["id"], "approve", {"comment": "Ship it"})
    assert approved.status_code == 200, approved.text

    items = await history(desk, post["id"], writer.headers)
    assert [(item["decision"], item["comment"]) for item in items] == [
        ("rejected", "Too loud"),
        ("rejected", "Wrong date"),
        ("approved", "Ship it"),
    ]
    who = [item["decided_by"] for item in items]
    assert who[0] == {"type": "user", "id": str(desk.owner.user_id), "name": "Test User"}
    assert who[1] == {"type": "reviewer", "id": None, "name": "Sam from Client Co"}
    assert isinstance(who[2], dict)
    assert who[2]["type"] == "api_key"
    assert who[2]["id"] is not None
    stamps = [datetime.fromisoformat(str(item["at"]).replace("Z", "+00:00")) for item in items]
    assert stamps == sorted(stamps)
    assert all(str(item["at"]).endswith("Z") for item in items)
    # The post's own `approval` is only the latest of them.
    assert approved.json()["approval"]["comment"] == "Ship it"


async def test_the_history_is_for_members_of_the_posts_organization_only(desk: Desk) -> None:
    await require_approval(desk)
    writer = await member(desk)
    post = await scheduled(desk, writer.headers)
    await act(desk, desk.owner.headers, post["id"], "reject", {"comment": "No"})
    viewer = await member(desk, role="viewer")
    url = f"{POSTS}/{post['id']}/approvals"
    assert_problem(await desk.api.get(url, headers=viewer.headers), 403, "forbidden")
    stranger = await register(desk.api)
    assert_problem(await desk.api.get(url, headers=stranger.headers), 404, "not_found")
    assert_problem(await desk.api.get(url), 401, "not_authenticated")
    missing = f"{POSTS}/00000000-0000-7000-8000-000000000000/approvals"
    assert_problem(await desk.api.get(missing, headers=writer.headers), 404, "not_found")
    assert_problem(
        await desk.api.get(f"{POSTS}/not-an-id/approvals", headers=writer.headers),
        404,
        "not_found",
    )
    assert len(await history(desk, post["id"], writer.headers)) == 1


async def test_cancelling_a_pending_post_closes_its_approval_and_voids_its_links(
    desk: Desk,
) -> None:
    await require_approval(desk)
    writer = await member(desk)
    post = await scheduled(desk, writer.headers)
    made = await link(desk, post["id"])
    assert (await desk.api.get(f"{REVIEW}/{made['token']}")).status_code == 200

    cancelled = await act(desk, writer.headers, post["id"], "cancel")
    assert cancelled.status_code == 200, cancelled.text
    approval = cancelled.json()["approval"]
    assert approval["status"] == "cancelled"
    assert approval["decided_by"]["id"] == str(writer.user_id)
    assert_problem(await desk.api.get(f"{REVIEW}/{made['token']}"), 404, "not_found")
    decided = await desk.api.post(
        f"{REVIEW}/{made['token']}", json={"decision": "approve", "name": "Sam"}
    )
    assert_problem(decided, 404, "not_found")
    assert_problem(await act(desk, desk.owner.headers, post["id"], "approve"), 409, "conflict")
    items = await history(desk, post["id"], writer.headers)
    assert [item["decision"] for item in items] == ["cancelled"]
    # Scheduling it again asks for approval afresh.
    again = await act(
        desk, writer.headers, post["id"], "schedule", {"scheduled_at": post["scheduled_at"]}
    )
    assert again.json()["approval"]["status"] == "pending", again.text

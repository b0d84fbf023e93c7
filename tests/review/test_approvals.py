"""Approvals through the API: a brand that requires them holds its members' posts in
`pending_approval` until an admin approves (scheduled) or rejects (draft, with why)."""

from __future__ import annotations

from datetime import timedelta

from t21.core import clock
from t21.core.uow import session_scope
from t21.publishing.service import claim_due
from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk
from tests.review.helpers import (
    act,
    event_types,
    events_of,
    key_headers,
    member,
    require_approval,
    scheduled,
    soon,
)
from tests.support.accounts import register


async def test_a_members_post_waits_for_an_admin_and_nothing_goes_out_meanwhile(
    desk: Desk,
) -> None:
    await require_approval(desk)
    writer = await member(desk)
    post = await scheduled(desk, writer.headers, "twitter", "linkedin")
    assert post["status"] == "pending_approval"
    assert {t["status"] for t in post["targets"]} == {"pending_approval"}
    assert all(t["next_attempt_at"] is None for t in post["targets"])
    assert post["approval"] == {
        "status": "pending",
        "decided_by": None,
        "decided_at": None,
        "comment": None,
    }
    listed = await desk.api.get(
        POSTS, params={"status": "pending_approval"}, headers=desk.owner.headers
    )
    assert [item["id"] for item in listed.json()["items"]] == [post["id"]]
    # Long past its time, the dispatcher still passes it by.
    with clock.frozen(clock.now() + timedelta(days=2)):
        async with session_scope(desk.world.runtime) as session:
            assert await claim_due(session, desk.world.runtime.settings) == []

    refused = await act(desk, writer.headers, post["id"], "approve")
    assert_problem(refused, 403, "forbidden")
    stranger = await register(desk.api)
    assert_problem(await act(desk, stranger.headers, post["id"], "approve"), 404, "not_found")
    assert_problem(
        await act(desk, desk.owner.headers, post["id"], "approve", {"x": 1}),
        422,
        "validation_error",
    )

    approved = await act(desk, desk.owner.headers, post["id"], "approve", {"comment": "Ship it"})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "scheduled"
    assert {t["status"] for t in body["targets"]} == {"scheduled"}
    assert {t["next_attempt_at"] for t in body["targets"]} == {body["scheduled_at"]}
    approval = body["approval"]
    assert approval["status"] == "approved"
    assert approval["comment"] == "Ship it"
    assert approval["decided_by"] == {
        "type": "user",
        "id": str(desk.owner.user_id),
        "name": "Test User",
    }
    assert approval["decided_at"].endswith("Z")
    assert await event_types(desk, post["id"]) == [
        "post.created",
        "post.approval_requested",
        "post.approved",
        "post.scheduled",
    ]
    [event] = await events_of(desk, post["id"], "post.approved")
    assert event["data"]["approval"] == approval
    again = await act(desk, desk.owner.headers, post["id"], "approve")
    assert_problem(again, 409, "conflict")


async def test_admins_schedule_directly_and_brands_without_approval_hold_nobody(
    desk: Desk,
) -> None:
    writer = await member(desk)
    free = await scheduled(desk, writer.headers, content="No approval needed")
    assert free["status"] == "scheduled"
    assert free["approval"] is None
    await require_approval(desk)
    own = await scheduled(desk, desk.owner.headers, content="The owner's own")
    assert own["status"] == "scheduled"
    assert own["approval"] is None
    admin = await member(desk, "admin")
    theirs = await scheduled(desk, admin.headers, content="An admin's own")
    assert theirs["status"] == "scheduled"
    # A draft waits for nobody; scheduling it does.
    x = await desk.account("twitter")
    draft = await desk.create(who=writer, content="Draft first", targets=[{"social_account_id": x}])
    assert draft.json()["status"] == "draft"
    asked = await act(
        desk, writer.headers, draft.json()["id"], "schedule", {"scheduled_at": soon()}
    )
    assert asked.json()["status"] == "pending_approval"
    now = await act(desk, writer.headers, own["id"], "publish")
    assert now.status_code == 202, now.text
    assert now.json()["status"] == "pending_approval"


async def test_approving_after_its_time_asks_to_reschedule_and_an_admins_reschedule_approves(
    desk: Desk,
) -> None:
    await require_approval(desk)
    writer = await member(desk)
    post = await scheduled(desk, writer.headers, at=soon(5))
    with clock.frozen(clock.now() + timedelta(minutes=10)):
        late = await act(desk, desk.owner.headers, post["id"], "approve")
        problem = assert_problem(late, 409, "conflict")
        assert "reschedule" in problem["detail"]
        assert problem["scheduled_at"] == post["scheduled_at"]
        still = await desk.api.get(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
        assert still.json()["status"] == "pending_approval"
        moved = await act(
            desk, desk.owner.headers, post["id"], "schedule", {"scheduled_at": soon(60)}
        )
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "scheduled"
    assert moved.json()["approval"]["status"] == "approved"
    assert moved.json()["approval"]["decided_by"]["id"] == str(desk.owner.user_id)
    assert (await event_types(desk, post["id"]))[-2:] == ["post.approved", "post.scheduled"]


async def test_a_rejection_needs_a_comment_and_sends_the_post_back_to_draft_with_it(
    desk: Desk,
) -> None:
    await require_approval(desk)
    writer = await member(desk)
    post = await scheduled(desk, writer.headers)
    missing = await act(desk, desk.owner.headers, post["id"], "reject", {})
    body = assert_problem(missing, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "comment"]
    blank = await act(desk, desk.owner.headers, post["id"], "reject", {"comment": "   "})
    assert_problem(blank, 422, "validation_error")
    assert_problem(
        await act(desk, writer.headers, post["id"], "reject", {"comment": "no"}), 403, "forbidden"
    )
    rejected = await act(
        desk, desk.owner.headers, post["id"], "reject", {"comment": "Too salesy; soften it."}
    )
    assert rejected.status_code == 200, rejected.text
    shown = rejected.json()
    assert shown["status"] == "draft"
    assert {t["status"] for t in shown["targets"]} == {"draft"}
    assert shown["approval"]["status"] == "rejected"
    assert shown["approval"]["comment"] == "Too salesy; soften it."
    read = await desk.api.get(f"{POSTS}/{post['id']}", headers=writer.headers)
    assert read.json()["approval"]["comment"] == "Too salesy; soften it."
    assert (await event_types(desk, post["id"]))[-1] == "post.rejected"
    assert_problem(
        await act(desk, desk.owner.headers, post["id"], "reject", {"comment": "again"}),
        409,
        "conflict",
    )
    # Rewritten and scheduled again, it waits for approval afresh.
    edited = await desk.api.patch(
        f"{POSTS}/{post['id']}", json={"content": "Softer now"}, headers=writer.headers
    )
    assert edited.json()["status"] == "draft"
    again = await act(desk, writer.headers, post["id"], "schedule", {"scheduled_at": soon()})
    assert again.json()["status"] == "pending_approval"
    assert again.json()["approval"]["status"] == "pending"


async def test_editing_a_pending_or_approved_post_sends_it_back_for_approval(desk: Desk) -> None:
    await require_approval(desk)
    writer = await member(desk)
    post = await scheduled(desk, writer.headers)
    approved = await act(desk, desk.owner.headers, post["id"], "approve")
    assert approved.json()["status"] == "scheduled"
    edited = await desk.api.patch(
        f"{POSTS}/{post['id']}", json={"content": "A late change"}, headers=writer.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "pending_approval"
    assert edited.json()["approval"]["status"] == "pending"
    assert {t["status"] for t in edited.json()["targets"]} == {"pending_approval"}
    # An account added while pending waits with the others.
    x, linkedin = await desk.account("twitter"), await desk.account("linkedin")
    widened = await desk.api.patch(
        f"{POSTS}/{post['id']}",
        json={"targets": [{"social_account_id": x}, {"social_account_id": linkedin}]},
        headers=desk.owner.headers,
    )
    assert {t["status"] for t in widened.json()["targets"]} == {"pending_approval"}
    assert (await event_types(desk, post["id"]))[-4:] == [
        "post.updated",
        "post.approval_requested",
        "post.updated",
        "post.approval_requested",
    ]
    # A member editing what an admin scheduled directly sends it for approval too.
    own = await scheduled(desk, desk.owner.headers, content="Owner's post")
    owner_edit = await desk.api.patch(
        f"{POSTS}/{own['id']}", json={"content": "Owner's post, edited"}, headers=desk.owner.headers
    )
    assert owner_edit.json()["status"] == "scheduled"
    member_edit = await desk.api.patch(
        f"{POSTS}/{own['id']}", json={"content": "Sneaky change"}, headers=writer.headers
    )
    assert member_edit.json()["status"] == "pending_approval"


async def test_a_member_key_waits_for_approval_and_an_admin_key_approves(desk: Desk) -> None:
    await require_approval(desk)
    member_key = await key_headers(desk, "member")
    admin_key = await key_headers(desk, "admin")
    post = await scheduled(desk, member_key)
    assert post["status"] == "pending_approval"
    assert_problem(await act(desk, member_key, post["id"], "approve"), 403, "forbidden")
    approved = await act(desk, admin_key, post["id"], "approve")
    assert approved.status_code == 200, approved.text
    decided_by = approved.json()["approval"]["decided_by"]
    assert decided_by["type"] == "api_key"
    assert decided_by["name"] == "key-admin"
    direct = await scheduled(desk, admin_key, content="From the admin key")
    assert direct["status"] == "scheduled"


async def test_a_queued_post_of_a_member_waits_for_approval_in_its_slot(desk: Desk) -> None:
    await require_approval(desk)
    answer = await desk.api.put(
        f"/api/v1/brands/{desk.brand_id}/queue",
        json={"slots": [{"day": day, "time": "09:00"} for day in ("mon", "wed", "fri")]},
        headers=desk.owner.headers,
    )
    assert answer.status_code == 200, answer.text
    writer = await member(desk)
    x = await desk.account("twitter")
    first = await desk.create(
        who=writer, content="Queued one", schedule="queue", targets=[{"social_account_id": x}]
    )
    assert first.json()["status"] == "pending_approval"
    second = await desk.create(
        who=writer, content="Queued two", schedule="queue", targets=[{"social_account_id": x}]
    )
    # The pending post holds its slot: the next one takes the following slot.
    assert second.json()["scheduled_at"] > first.json()["scheduled_at"]


async def test_cancelling_a_pending_post_cancels_it(desk: Desk) -> None:
    await require_approval(desk)
    writer = await member(desk)
    post = await scheduled(desk, writer.headers)
    cancelled = await act(desk, writer.headers, post["id"], "cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert_problem(await act(desk, desk.owner.headers, post["id"], "approve"), 409, "conflict")

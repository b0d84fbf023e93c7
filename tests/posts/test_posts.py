"""Posts through the API: writing, the per-network checks, scheduling, editing and their
state rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from t21.core import clock
from t21.posts.models import TargetStatus
from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk, jpeg
from tests.support.accounts import add_member, register

LIMITS = {"twitter": 280, "linkedin": 3000, "facebook": 63206, "instagram": 2200, "tiktok": 2200}
NEEDS_MEDIA = {"instagram", "tiktok"}


def later(**delta: float) -> str:
    return (clock.now() + timedelta(**(delta or {"days": 1}))).isoformat()


async def test_a_draft_has_one_target_per_account_and_reads_back(desk: Desk) -> None:
    x, linkedin = await desk.account("twitter"), await desk.account("linkedin")
    created = await desk.create(
        content="Launch day",
        targets=[
            {"social_account_id": x, "content": "Launch day on X"},
            {"social_account_id": linkedin, "options": {"visibility": "PUBLIC"}},
        ],
    )
    post = created.json()
    assert post["status"] == "draft"
    assert post["author_id"] == str(desk.owner.user_id)
    assert post["scheduled_at"] is None
    assert post["ai"] is None
    by_platform = {target["platform"]: target for target in post["targets"]}
    assert by_platform["twitter"]["content"] == "Launch day on X"
    assert by_platform["linkedin"]["content"] is None
    assert by_platform["linkedin"]["options"] == {"visibility": "PUBLIC"}
    assert {t["status"] for t in post["targets"]} == {"draft"}
    assert all(t["attempts"] == 0 and t["last_error"] is None for t in post["targets"])
    again = await desk.api.get(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
    assert again.status_code == 200
    assert again.json() == post


async def test_scheduled_at_is_stored_in_utc_and_shown_in_the_brands_timezone(desk: Desk) -> None:
    await desk.api.patch(
        f"/api/v1/brands/{desk.brand_id}",
        json={"timezone": "Europe/Paris"},
        headers=desk.owner.headers,
    )
    year = clock.now().year + 1
    post = await desk.draft("twitter", scheduled_at=f"{year}-01-10T09:00:00+05:30")
    assert post["status"] == "scheduled"
    assert post["scheduled_at"] == f"{year}-01-10T03:30:00Z"
    assert post["timezone"] == "Europe/Paris"
    assert post["scheduled_at_local"] == f"{year}-01-10T04:30:00+01:00"
    [target] = post["targets"]
    assert target["status"] == "scheduled"
    assert target["next_attempt_at"] == post["scheduled_at"]


async def test_a_schedule_in_the_past_or_missing_is_refused_and_nothing_is_created(
    desk: Desk,
) -> None:
    x = await desk.account("twitter")
    past = await desk.create(
        expect=None,
        content="Too late",
        targets=[{"social_account_id": x}],
        scheduled_at=(clock.now() - timedelta(minutes=5)).isoformat(),
    )
    body = assert_problem(past, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "scheduled_at"]
    missing = await desk.create(
        expect=None, content="When?", targets=[{"social_account_id": x}], status="scheduled"
    )
    assert_problem(missing, 422, "validation_error")
    naive = await desk.create(
        expect=None,
        content="Where?",
        targets=[{"social_account_id": x}],
        scheduled_at="2030-01-01T10:00:00",
    )
    assert_problem(naive, 422, "validation_error")
    listed = await desk.api.get(POSTS, headers=desk.owner.headers)
    assert listed.json()["items"] == []


async def test_a_time_within_the_grace_is_accepted_as_now(desk: Desk) -> None:
    post = await desk.draft("twitter", scheduled_at=later(seconds=-20))
    assert post["status"] == "scheduled"


@pytest.mark.parametrize("platform", sorted(LIMITS))
async def test_text_at_each_networks_limit_passes_and_one_more_names_the_target_and_rule(
    desk: Desk, platform: str
) -> None:
    account = await desk.account(platform)
    media = [await desk.upload()] if platform in NEEDS_MEDIA else []
    limit = LIMITS[platform]
    ok = await desk.create(
        content="a" * limit, media_ids=media, targets=[{"social_account_id": account}]
    )
    assert ok.json()["status"] == "draft"
    over = await desk.create(
        expect=None,
        content="a" * (limit + 1),
        media_ids=media,
        targets=[{"social_account_id": account}],
    )
    body = assert_problem(over, 422, "validation_error")
    [problem] = body["errors"]
    assert problem["loc"] == ["body", "targets", 0, "content"]
    assert problem["rule"] == "text_too_long"
    assert problem["platform"] == platform
    assert problem["target"] == 0
    assert problem["social_account_id"] == account
    assert str(limit) in problem["msg"]


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("漢" * 140, True),
        ("漢" * 141, False),
        ("🙂" * 140, True),
        ("👩‍💻" * 140 + "a", False),
        ("a" * 256 + " https://example.com/" + "p" * 300, True),
        ("a" * 257 + " https://example.com/" + "p" * 300, False),
    ],
)
async def test_x_counts_text_as_x_does(desk: Desk, text: str, fits: bool) -> None:
    x = await desk.account("twitter")
    response = await desk.create(expect=None, content=text, targets=[{"social_account_id": x}])
    assert response.status_code == (201 if fits else 422), response.text


async def test_each_target_is_held_to_its_own_text(desk: Desk) -> None:
    x, linkedin = await desk.account("twitter"), await desk.account("linkedin")
    long_text = "word " * 100  # 500 characters: fine on LinkedIn, too long for X
    fine = await desk.create(
        content=long_text,
        targets=[
            {"social_account_id": x, "content": "Short for X"},
            {"social_account_id": linkedin},
        ],
    )
    assert fine.status_code == 201
    refused = await desk.create(
        expect=None,
        content=long_text,
        targets=[{"social_account_id": linkedin}, {"social_account_id": x}],
    )
    body = assert_problem(refused, 422, "validation_error")
    assert [(e["target"], e["rule"]) for e in body["errors"]] == [(1, "text_too_long")]


async def test_media_rules_name_the_media_and_the_target(desk: Desk) -> None:
    instagram = await desk.account("instagram")
    without = await desk.create(
        expect=None, content="No picture", targets=[{"social_account_id": instagram}]
    )
    body = assert_problem(without, 422, "validation_error")
    assert [(e["loc"], e["rule"]) for e in body["errors"]] == [
        (["body", "targets", 0], "media_required")
    ]
    panorama = await desk.upload(jpeg(2000, 500))
    wide = await desk.create(
        expect=None,
        content="Too wide",
        media_ids=[panorama],
        targets=[{"social_account_id": instagram}],
    )
    body = assert_problem(wide, 422, "validation_error")
    [problem] = body["errors"]
    assert problem["loc"] == ["body", "media_ids", 0]
    assert problem["rule"] == "aspect_ratio"
    assert problem["target"] == 0
    assert problem["platform"] == "instagram"


async def test_too_many_images_for_x_is_refused(desk: Desk) -> None:
    x = await desk.account("twitter")
    images = [await desk.upload() for _ in range(5)]
    four = await desk.create(
        content="Four", media_ids=images[:4], targets=[{"social_account_id": x}]
    )
    assert [m["id"] for m in four.json()["media"]] == images[:4]
    first = four.json()["media"][0]
    assert first["status"] == "ready"
    assert first["url"]
    assert first["thumbnail_url"]
    assert (first["width"], first["height"]) == (1080, 1080)
    five = await desk.create(
        expect=None, content="Five", media_ids=images, targets=[{"social_account_id": x}]
    )
    body = assert_problem(five, 422, "validation_error")
    assert [e["rule"] for e in body["errors"]] == ["too_many_images"]


async def test_options_the_network_does_not_know_are_refused(desk: Desk) -> None:
    instagram = await desk.account("instagram")
    photo = await desk.upload()
    response = await desk.create(
        expect=None,
        content="Hi",
        media_ids=[photo],
        targets=[{"social_account_id": instagram, "options": {"kind": "hologram"}}],
    )
    body = assert_problem(response, 422, "validation_error")
    [problem] = body["errors"]
    assert problem["loc"] == ["body", "targets", 0, "options"]
    assert problem["rule"] == "invalid_options"
    reel = await desk.create(
        expect=None,
        content="A reel needs a video",
        media_ids=[photo],
        targets=[{"social_account_id": instagram, "options": {"kind": "reel"}}],
    )
    assert_problem(reel, 422, "validation_error")


async def test_a_tiktok_privacy_level_the_account_cannot_use_is_refused_naming_the_rule(
    desk: Desk,
) -> None:
    # The sandbox's TikTok app is unaudited, as a new app is: its accounts may post SELF_ONLY.
    tiktok = await desk.account("tiktok")
    photo = await desk.upload()
    response = await desk.create(
        expect=None,
        content="For everyone",
        media_ids=[photo],
        targets=[{"social_account_id": tiktok, "options": {"privacy_level": "PUBLIC_TO_EVERYONE"}}],
    )
    body = assert_problem(response, 422, "validation_error")
    [problem] = body["errors"]
    assert problem["loc"] == ["body", "targets", 0]
    assert problem["rule"] == "privacy_level_not_allowed"
    assert "audited" in problem["msg"]
    listed = await desk.api.get(POSTS, headers=desk.owner.headers)
    assert listed.json()["items"] == []
    # Without a level, the most public one the account may use goes out.
    await desk.create(content="Just me", media_ids=[photo], targets=[{"social_account_id": tiktok}])


async def test_an_account_of_another_brand_or_tenant_or_needing_reconnection_is_refused(
    desk: Desk,
) -> None:
    other_brand = await desk.api.post(
        "/api/v1/brands", json={"name": "Other"}, headers=desk.owner.headers
    )
    other_brand_id = other_brand.json()["id"]
    [foreign] = (
        (await desk.world.connect("twitter", brand_id=other_brand_id))
        .headers["location"]
        .split("connected=")[1:]
    )
    response = await desk.create(
        expect=None, content="Hi", targets=[{"social_account_id": foreign}]
    )
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "targets", 0, "social_account_id"]
    assert "another brand" in body["errors"][0]["msg"]

    stranger = await register(desk.api)
    brand = await desk.api.post("/api/v1/brands", json={"name": "S"}, headers=stranger.headers)
    theirs = await desk.api.post(
        POSTS,
        json={
            "brand_id": brand.json()["id"],
            "content": "Hi",
            "targets": [{"social_account_id": await desk.account("twitter")}],
        },
        headers=stranger.headers,
    )
    body = assert_problem(theirs, 422, "validation_error")
    assert body["errors"][0]["msg"] == "No such social account."

    linkedin = await desk.account("linkedin")
    await _set_account_status(desk, linkedin, "reauth_required")
    response = await desk.create(
        expect=None, content="Hi", targets=[{"social_account_id": linkedin}]
    )
    body = assert_problem(response, 422, "validation_error")
    assert "reconnecting" in body["errors"][0]["msg"]


async def _set_account_status(desk: Desk, account_id: str, status: str) -> None:
    import uuid

    from sqlalchemy import update

    from t21.core.uow import session_scope
    from t21.social.models import AccountStatus, SocialAccount

    async with session_scope(desk.world.runtime) as session:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == uuid.UUID(account_id))
            .values(status=AccountStatus(status))
        )


async def test_media_of_another_brand_is_refused(desk: Desk) -> None:
    other = await desk.api.post(
        "/api/v1/brands", json={"name": "Other"}, headers=desk.owner.headers
    )
    theirs = await desk.upload(brand_id=other.json()["id"])
    response = await desk.create(
        expect=None,
        content="Hi",
        media_ids=[theirs],
        targets=[{"social_account_id": await desk.account("twitter")}],
    )
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "media_ids", 0]


async def test_malformed_bodies_are_refused_clearly(desk: Desk) -> None:
    x = await desk.account("twitter")
    cases: list[dict[str, Any]] = [
        {"content": "Hi", "targets": [{"social_account_id": "nope"}]},
        {"content": "Hi", "targets": [{"social_account_id": x}, {"social_account_id": x}]},
        {"content": "Hi", "targets": [{"social_account_id": x}], "status": "published"},
        {"content": "Hi", "targets": [{"social_account_id": x}], "extra": 1},
        {"content": "Hi", "targets": [{"social_account_id": x}], "scheduled_at": "tomorrow"},
        {"content": 5, "targets": []},
    ]
    for body in cases:
        response = await desk.create(expect=None, **body)
        assert_problem(response, 422, "validation_error")
    missing_brand = await desk.api.post(
        POSTS,
        json={"brand_id": "018f0000-0000-7000-8000-000000000000", "targets": []},
        headers=desk.owner.headers,
    )
    assert_problem(missing_brand, 404, "not_found")


# --- state rules ----------------------------------------------------------------------------


async def test_editing_replaces_text_media_and_targets_keeping_kept_targets(desk: Desk) -> None:
    x, linkedin = await desk.account("twitter"), await desk.account("linkedin")
    post = await desk.draft("twitter", "linkedin")
    kept = {t["platform"]: t["id"] for t in post["targets"]}
    photo = await desk.upload()
    edited = await desk.api.patch(
        f"{POSTS}/{post['id']}",
        json={
            "content": "New words",
            "media_ids": [photo],
            "targets": [{"social_account_id": x, "content": "X words"}],
        },
        headers=desk.owner.headers,
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["content"] == "New words"
    assert [m["id"] for m in body["media"]] == [photo]
    [target] = body["targets"]
    assert target["id"] == kept["twitter"]
    assert target["content"] == "X words"
    too_long = await desk.api.patch(
        f"{POSTS}/{post['id']}",
        json={"targets": [{"social_account_id": x, "content": "x" * 281}]},
        headers=desk.owner.headers,
    )
    assert_problem(too_long, 422, "validation_error")
    unchanged = await desk.api.get(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
    assert unchanged.json()["targets"][0]["content"] == "X words"
    assert linkedin not in {t["social_account_id"] for t in unchanged.json()["targets"]}


@pytest.mark.parametrize(
    "state",
    [
        TargetStatus.PUBLISHED,
        TargetStatus.PUBLISHING,
        TargetStatus.QUEUED,
        TargetStatus.NEEDS_REVIEW,
    ],
)
async def test_a_post_being_or_already_published_cannot_be_edited_or_deleted(
    desk: Desk, state: TargetStatus
) -> None:
    post = await desk.draft("twitter", scheduled_at=later())
    await desk.set_targets(post["id"], state)
    edit = await desk.api.patch(
        f"{POSTS}/{post['id']}", json={"content": "Changed"}, headers=desk.owner.headers
    )
    body = assert_problem(edit, 409, "conflict")
    assert body["target_ids"] == [post["targets"][0]["id"]]
    deleted = await desk.api.delete(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
    assert_problem(deleted, 409, "conflict")
    still = await desk.api.get(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
    assert still.json()["content"] == "Hello from T21"


async def test_a_draft_is_deleted(desk: Desk) -> None:
    post = await desk.draft("twitter")
    deleted = await desk.api.delete(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
    assert deleted.status_code == 204
    gone = await desk.api.get(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
    assert_problem(gone, 404, "not_found")


async def test_scheduling_a_draft_then_rescheduling_it(desk: Desk) -> None:
    post = await desk.draft("twitter", "linkedin")
    first = later(days=2)
    scheduled = await desk.api.post(
        f"{POSTS}/{post['id']}/schedule", json={"scheduled_at": first}, headers=desk.owner.headers
    )
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["status"] == "scheduled"
    moved = await desk.api.post(
        f"{POSTS}/{post['id']}/schedule",
        json={"scheduled_at": later(days=3)},
        headers=desk.owner.headers,
    )
    body = moved.json()
    assert body["scheduled_at"] != scheduled.json()["scheduled_at"]
    assert {t["next_attempt_at"] for t in body["targets"]} == {body["scheduled_at"]}


async def test_rescheduling_a_target_the_dispatcher_claimed_is_a_conflict(desk: Desk) -> None:
    post = await desk.draft("twitter", scheduled_at=later())
    await desk.set_targets(post["id"], TargetStatus.QUEUED)
    moved = await desk.api.post(
        f"{POSTS}/{post['id']}/schedule",
        json={"scheduled_at": later(days=5)},
        headers=desk.owner.headers,
    )
    assert_problem(moved, 409, "conflict")
    now = await desk.api.post(f"{POSTS}/{post['id']}/publish", headers=desk.owner.headers)
    assert_problem(now, 409, "conflict")
    still = await desk.api.get(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
    assert still.json()["scheduled_at"] == post["scheduled_at"]
    assert still.json()["targets"][0]["status"] == "queued"


async def test_publish_now_makes_every_unpublished_target_due_at_once(desk: Desk) -> None:
    post = await desk.draft("twitter", scheduled_at=later(days=7))
    response = await desk.api.post(f"{POSTS}/{post['id']}/publish", headers=desk.owner.headers)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "scheduled"
    [target] = body["targets"]
    due = target["next_attempt_at"]
    assert due is not None
    assert due <= clock.now().isoformat().replace("+00:00", "Z")


async def test_cancel_stops_what_is_not_yet_published_and_reschedule_brings_it_back(
    desk: Desk,
) -> None:
    post = await desk.draft("twitter", scheduled_at=later())
    cancelled = await desk.api.post(f"{POSTS}/{post['id']}/cancel", headers=desk.owner.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["targets"][0]["next_attempt_at"] is None
    again = await desk.api.post(f"{POSTS}/{post['id']}/cancel", headers=desk.owner.headers)
    assert again.status_code == 200
    back = await desk.api.post(
        f"{POSTS}/{post['id']}/schedule",
        json={"scheduled_at": later(days=2)},
        headers=desk.owner.headers,
    )
    assert back.json()["status"] == "scheduled"


async def test_a_published_post_cannot_be_cancelled_or_rescheduled(desk: Desk) -> None:
    post = await desk.draft("twitter", scheduled_at=later())
    await desk.set_targets(post["id"], TargetStatus.PUBLISHED)
    cancel = await desk.api.post(f"{POSTS}/{post['id']}/cancel", headers=desk.owner.headers)
    assert_problem(cancel, 409, "conflict")
    reschedule = await desk.api.post(
        f"{POSTS}/{post['id']}/schedule",
        json={"scheduled_at": later(days=2)},
        headers=desk.owner.headers,
    )
    assert_problem(reschedule, 409, "conflict")


async def test_scheduling_rechecks_accounts_that_changed_since(desk: Desk) -> None:
    post = await desk.draft("twitter")
    await _set_account_status(desk, await desk.account("twitter"), "reauth_required")
    response = await desk.api.post(
        f"{POSTS}/{post['id']}/schedule",
        json={"scheduled_at": later()},
        headers=desk.owner.headers,
    )
    assert_problem(response, 422, "validation_error")
    still = await desk.api.get(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
    assert still.json()["status"] == "draft"


# --- who may ----------------------------------------------------------------------------------


async def test_viewers_read_members_write_and_strangers_see_nothing(desk: Desk) -> None:
    post = await desk.draft("twitter")
    runtime = desk.world.runtime
    from t21.worker.queue import JobQueue

    assert isinstance(runtime.jobs, JobQueue)
    viewer = await add_member(
        desk.api,
        runtime.jobs,
        runtime.settings,
        inviter=desk.owner,
        organization_id=desk.owner.personal_organization_id,
        role="viewer",
    )
    member = await add_member(
        desk.api,
        runtime.jobs,
        runtime.settings,
        inviter=desk.owner,
        organization_id=desk.owner.personal_organization_id,
        role="member",
    )
    seen = await desk.api.get(f"{POSTS}/{post['id']}", headers=viewer.headers)
    assert seen.status_code == 200
    x = await desk.account("twitter")
    refused = await desk.create(
        who=viewer, expect=None, content="Hi", targets=[{"social_account_id": x}]
    )
    assert_problem(refused, 403, "forbidden")
    cancel = await desk.api.post(f"{POSTS}/{post['id']}/cancel", headers=viewer.headers)
    assert_problem(cancel, 403, "forbidden")
    written = await desk.create(who=member, content="Hi", targets=[{"social_account_id": x}])
    assert written.json()["author_id"] == str(member.user_id)
    stranger = await register(desk.api)
    for method, path in [
        ("GET", f"{POSTS}/{post['id']}"),
        ("PATCH", f"{POSTS}/{post['id']}"),
        ("DELETE", f"{POSTS}/{post['id']}"),
        ("POST", f"{POSTS}/{post['id']}/cancel"),
        ("POST", f"{POSTS}/{post['id']}/publish"),
    ]:
        response = await desk.api.request(
            method, path, json={} if method == "PATCH" else None, headers=stranger.headers
        )
        assert_problem(response, 404, "not_found")
    listed = await desk.api.get(POSTS, headers=stranger.headers)
    assert listed.json()["items"] == []
    # Into the owner's brand, with an account of the brand or none: no such brand either way.
    for targets in ([{"social_account_id": x}], []):
        into = await desk.api.post(
            POSTS,
            json={"brand_id": desk.brand_id, "content": "Hi", "targets": targets},
            headers=stranger.headers,
        )
        body = assert_problem(into, 404, "not_found")
        assert body["detail"] == "No such brand."

"""The duplicate guard: the same normalized text on the same account within 24 hours answers
409 `duplicate_content` naming the other post, unless `allow_duplicate`; the dry run warns."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from t21.core import clock
from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk
from tests.support.accounts import create_api_key


def at(hours: float) -> str:
    return (clock.now() + timedelta(hours=hours)).isoformat()


async def schedule(
    desk: Desk, content: str, when: str, *platforms: str, expect: int = 201, **body: Any
) -> Any:
    targets = [{"social_account_id": await desk.account(p)} for p in platforms or ("twitter",)]
    answer = await desk.create(
        expect=expect, content=content, targets=targets, scheduled_at=when, **body
    )
    return answer.json()


async def test_the_same_text_on_the_same_account_within_a_day_is_refused_naming_the_post(
    desk: Desk,
) -> None:
    first = await schedule(desk, "Big news: we ship today!", at(24))
    respaced = "  Big news:\n we\u00a0ship   today! "
    problem = await schedule(desk, respaced, at(30), expect=409)
    assert problem["code"] == "duplicate_content"
    assert problem["post_id"] == first["id"]
    assert problem["social_account_id"] == await desk.account("twitter")
    assert problem["target"] == 0
    assert "allow_duplicate" in problem["detail"]
    # The network by the name people know (its id stays in `platform`).
    assert "on this X account" in problem["detail"]
    assert "twitter" not in problem["detail"]
    assert problem["platform"] == "twitter"
    allowed = await schedule(desk, respaced, at(30), allow_duplicate=True)
    assert allowed["status"] == "scheduled"
    # Composed and decomposed accents are the same text; case is not.
    await schedule(desk, "Caf\u00e9 opens", at(24))
    accent = await schedule(desk, "Cafe\u0301 opens", at(25), expect=409)
    assert accent["code"] == "duplicate_content"
    await schedule(desk, "BIG NEWS: WE SHIP TODAY!", at(24))
    # Another account, or a day and more apart, is no duplicate.
    await schedule(desk, "Big news: we ship today!", at(24), "linkedin")
    await schedule(desk, "Big news: we ship today!", at(54.5))


async def test_a_target_text_override_counts_and_a_draft_is_checked_when_scheduled(
    desk: Desk,
) -> None:
    x = await desk.account("twitter")
    first = await desk.create(
        content="Base text",
        targets=[{"social_account_id": x, "content": "Only on X"}],
        scheduled_at=at(24),
    )
    draft = await desk.create(content="Only on X", targets=[{"social_account_id": x}])
    assert draft.json()["status"] == "draft"
    refused = await desk.api.post(
        f"{POSTS}/{draft.json()['id']}/schedule",
        json={"scheduled_at": at(23)},
        headers=desk.owner.headers,
    )
    body = assert_problem(refused, 409, "duplicate_content")
    assert body["post_id"] == first.json()["id"]
    now = await desk.api.post(f"{POSTS}/{draft.json()['id']}/publish", headers=desk.owner.headers)
    assert_problem(now, 409, "duplicate_content")
    unchanged = await desk.api.get(f"{POSTS}/{draft.json()['id']}", headers=desk.owner.headers)
    assert unchanged.json()["status"] == "draft"
    allowed = await desk.api.post(
        f"{POSTS}/{draft.json()['id']}/schedule",
        json={"scheduled_at": at(23), "allow_duplicate": True},
        headers=desk.owner.headers,
    )
    assert allowed.status_code == 200, allowed.text
    # Rescheduling a post never clashes with itself; a cancelled one no longer counts.
    moved = await desk.api.post(
        f"{POSTS}/{first.json()['id']}/schedule",
        json={"scheduled_at": at(60)},
        headers=desk.owner.headers,
    )
    assert moved.status_code == 200, moved.text
    cancelled = await desk.api.post(
        f"{POSTS}/{first.json()['id']}/cancel", headers=desk.owner.headers
    )
    assert cancelled.json()["status"] == "cancelled"
    await desk.create(content="Only on X", targets=[{"social_account_id": x}], scheduled_at=at(60))


async def test_api_keys_meet_the_guard_and_the_dry_run_warns_of_it(desk: Desk) -> None:
    first = await schedule(desk, "Weekly digest #12", at(24))
    key = await create_api_key(desk.api, desk.owner, desk.owner.personal_organization_id)
    headers = {"Authorization": f"Bearer {key['key']}"}
    body = {
        "brand_id": desk.brand_id,
        "content": "Weekly digest #12",
        "targets": [{"social_account_id": await desk.account("twitter")}],
        "scheduled_at": at(26),
    }
    assert_problem(await desk.api.post(POSTS, json=body, headers=headers), 409, "duplicate_content")
    checked = await desk.api.post(f"{POSTS}/validate", json=body, headers=headers)
    assert checked.status_code == 200, checked.text
    [warning] = [w for w in checked.json()["warnings"] if w["code"] == "duplicate_content"]
    assert warning["post_id"] == first["id"]
    assert checked.json()["valid"] is True
    replayed = await desk.api.post(POSTS, json={**body, "allow_duplicate": True}, headers=headers)
    assert replayed.status_code == 201, replayed.text


async def test_an_edit_of_a_post_on_its_way_out_is_checked_too(desk: Desk) -> None:
    first = await schedule(desk, "Launch day!", at(24))
    second = await schedule(desk, "Another announcement", at(26))
    url = f"{POSTS}/{second['id']}"
    x = await desk.account("twitter")

    # New text that repeats the first post on the same account: refused, nothing changed.
    refused = await desk.api.patch(
        url, json={"content": " Launch  day! "}, headers=desk.owner.headers
    )
    assert_problem(refused, 409, "duplicate_content")
    assert refused.json()["post_id"] == first["id"]
    # The same through a target's own text.
    override = {"targets": [{"social_account_id": x, "content": "Launch day!"}]}
    refused = await desk.api.patch(url, json=override, headers=desk.owner.headers)
    assert_problem(refused, 409, "duplicate_content")
    assert refused.json()["target"] == 0
    unchanged = await desk.api.get(url, headers=desk.owner.headers)
    assert unchanged.json()["content"] == "Another announcement"
    assert unchanged.json()["targets"][0]["content"] is None

    # A post never clashes with itself, and allow_duplicate lets the edit through.
    same = await desk.api.patch(
        url, json={"content": "Another announcement!"}, headers=desk.owner.headers
    )
    assert same.status_code == 200, same.text
    allowed = await desk.api.patch(
        url, json={"content": "Launch day!", "allow_duplicate": True}, headers=desk.owner.headers
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["content"] == "Launch day!"
    # Media alone is no new text; a draft is checked only when it is scheduled.
    draft = (await desk.create(content="x", targets=[{"social_account_id": x}])).json()
    drafted = await desk.api.patch(
        f"{POSTS}/{draft['id']}", json={"content": "Launch day!"}, headers=desk.owner.headers
    )
    assert drafted.status_code == 200, drafted.text
    bad = await desk.api.patch(url, json={"allow_duplicate": "maybe"}, headers=desk.owner.headers)
    assert_problem(bad, 422, "validation_error")

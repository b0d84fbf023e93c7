"""The list's page shows each post exactly as the post's own answer does (`GET /posts/{id}`), for
every field: the page is read as rows and serialized once, the post's answer through the ORM."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from t21.core import clock
from t21.core.uow import session_scope
from t21.posts.models import PostTarget, TargetStatus
from t21.posts.schemas import PostList
from tests.posts.conftest import POSTS, Desk
from tests.support.accounts import create_api_key

OPTIONS = {"note": 'a "quoted" ünïcode\nline', "ratio": 1.5, "tags": ["a", None], "n": 2}


async def test_each_listed_post_is_field_for_field_the_posts_own_answer(desk: Desk) -> None:
    # Frozen: a media URL is signed until a time counted from now.
    with clock.frozen(clock.now().replace(microsecond=123_000)):
        zoned = await desk.api.patch(
            f"/api/v1/brands/{desk.brand_id}",
            json={"timezone": "America/New_York"},
            headers=desk.owner.headers,
        )
        assert zoned.status_code == 200, zoned.text
        media_id = await desk.upload()
        x, facebook = await desk.account("twitter"), await desk.account("facebook")
        when = (clock.now() + timedelta(days=3)).isoformat()
        rich = await desk.create(
            content="Fresh bread, 1/2",
            media_ids=[media_id],
            scheduled_at=when,
            targets=[
                {"social_account_id": x, "thread": [{"content": "2/2"}]},
                {
                    "social_account_id": facebook,
                    "content": "Fresh bread on Facebook",
                    "options": {"first_comment": "Ask us!"},
                },
            ],
        )
        failed = await desk.draft("twitter", content="This one failed")
        async with session_scope(desk.world.runtime) as session:
            await session.execute(
                update(PostTarget)
                .where(PostTarget.post_id == uuid.UUID(failed["id"]))
                .values(
                    status=TargetStatus.FAILED,
                    attempts=3,
                    last_error_code="rejected",
                    last_error_message="The network refused the post.",
                    # Options the page reads as their JSON's text on PostgreSQL.
                    options=OPTIONS,
                )
            )
        key = await create_api_key(desk.api, desk.owner, desk.owner.personal_organization_id)
        by_key = await desk.api.post(
            POSTS,
            json={"brand_id": desk.brand_id, "content": "From a pipeline", "targets": []},
            headers={"Authorization": f"Bearer {key['key']}"},
        )
        assert by_key.status_code == 201, by_key.text

        page = await desk.api.get(POSTS, params={"limit": 100}, headers=desk.owner.headers)
        assert page.status_code == 200, page.text
        assert page.headers["content-type"] == "application/json"
        # Byte for byte what the answer's model writes: its fields, their order and formats.
        assert (
            PostList.__pydantic_serializer__.to_json(PostList.model_validate_json(page.content))
            == page.content
        )
        body = page.json()
        assert body["next_cursor"] is None
        items = {item["id"]: item for item in body["items"]}
        assert set(items) == {rich.json()["id"], failed["id"], by_key.json()["id"]}
        for post_id, item in items.items():
            own = await desk.api.get(f"{POSTS}/{post_id}", headers=desk.owner.headers)
            assert own.status_code == 200, own.text
            assert item == own.json()

    shown = items[rich.json()["id"]]
    assert shown["scheduled_at_local"].endswith("-05:00")
    assert [asset["id"] for asset in shown["media"]] == [media_id]
    threaded, commented = sorted(shown["targets"], key=lambda t: t["platform"] != "twitter")
    assert [part["position"] for part in threaded["parts"]] == [0, 1]
    assert commented["first_comment"]["status"] == "pending"
    assert items[failed["id"]]["targets"][0]["last_error"]["code"] == "rejected"
    assert items[failed["id"]]["targets"][0]["options"] == OPTIONS
    assert items[by_key.json()["id"]]["created_by"]["type"] == "api_key"
    assert items[by_key.json()["id"]] == by_key.json()  # the created answer, as read back


async def test_a_created_posts_answer_is_the_posts_own_answer(desk: Desk) -> None:
    with clock.frozen(clock.now().replace(microsecond=456_000)):
        first, second = await desk.upload(), await desk.upload(name="second.jpg")
        x, facebook = await desk.account("twitter"), await desk.account("facebook")
        created = await desk.create(
            content="Two photos",
            media_ids=[second, first],
            targets=[
                {"social_account_id": facebook, "options": {"first_comment": "Ask us!"}},
                {"social_account_id": x, "thread": [{"content": "and more"}]},
            ],
        )
        answer = created.json()
        own = await desk.api.get(f"{POSTS}/{answer['id']}", headers=desk.owner.headers)
    assert own.status_code == 200, own.text
    assert answer == own.json()
    assert [asset["id"] for asset in answer["media"]] == [second, first]
    assert answer["created_by"]["type"] == "user"

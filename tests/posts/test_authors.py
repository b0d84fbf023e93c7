"""Who created a post: a person, or an API key (`created_by`), shown on the post, in lists and
in its events; a revoked key still names its posts."""

from __future__ import annotations

from tests.posts.conftest import POSTS, Desk
from tests.review.helpers import events_of
from tests.support.accounts import create_api_key


async def test_a_post_made_with_an_api_key_records_the_key_as_its_author(desk: Desk) -> None:
    organization_id = desk.owner.personal_organization_id
    key = await create_api_key(desk.api, desk.owner, organization_id)
    headers = {"Authorization": f"Bearer {key['key']}"}
    x = await desk.account("twitter")
    made = await desk.api.post(
        POSTS,
        json={"brand_id": desk.brand_id, "content": "From a pipeline", "targets": []},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    post = made.json()
    assert post["author_id"] is None
    assert post["created_by"] == {"type": "api_key", "id": key["id"], "name": "key-member"}

    by_hand = (await desk.create(content="By hand", targets=[{"social_account_id": x}])).json()
    assert by_hand["author_id"] == str(desk.owner.user_id)
    assert by_hand["created_by"] == {
        "type": "user",
        "id": str(desk.owner.user_id),
        "name": "Test User",
    }
    listed = await desk.api.get(POSTS, headers=desk.owner.headers)
    authors = {item["id"]: item["created_by"] for item in listed.json()["items"]}
    assert authors[post["id"]]["type"] == "api_key"
    assert authors[by_hand["id"]]["type"] == "user"
    [created] = await events_of(desk, post["id"], "post.created")
    assert created["data"]["created_by"] == post["created_by"]

    deleted = await desk.api.delete(
        f"/api/v1/organizations/{organization_id}/api-keys/{key['id']}",
        headers=desk.owner.headers,
    )
    assert deleted.status_code == 204, deleted.text
    after = await desk.api.get(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
    # A revoked key still names the posts it made.
    assert after.json()["created_by"] == post["created_by"]

"""Brands that require approval, their members and keys, and the events they write."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from t21.core import clock
from t21.worker.queue import JobQueue
from tests.posts.conftest import POSTS, Desk
from tests.support.accounts import Account, add_member, create_api_key

EVENTS = "/api/v1/events"


def soon(minutes: int = 60 * 24) -> str:
    return (clock.now() + timedelta(minutes=minutes)).isoformat()


async def require_approval(desk: Desk, required: bool = True) -> None:
    answer = await desk.api.patch(
        f"/api/v1/brands/{desk.brand_id}",
        json={"requires_approval": required},
        headers=desk.owner.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["requires_approval"] is required


async def member(desk: Desk, role: str = "member") -> Account:
    runtime = desk.world.runtime
    assert isinstance(runtime.jobs, JobQueue)
    return await add_member(
        desk.api,
        runtime.jobs,
        runtime.settings,
        inviter=desk.owner,
        organization_id=desk.owner.personal_organization_id,
        role=role,
    )


async def key_headers(desk: Desk, role: str) -> dict[str, str]:
    key = await create_api_key(desk.api, desk.owner, desk.owner.personal_organization_id, role)
    return {"Authorization": f"Bearer {key['key']}"}


async def scheduled(
    desk: Desk,
    headers: dict[str, str],
    *platforms: str,
    content: str = "Hello from T21",
    at: str | None = None,
) -> Any:
    targets = [{"social_account_id": await desk.account(p)} for p in platforms or ("twitter",)]
    answer = await desk.api.post(
        POSTS,
        json={
            "brand_id": desk.brand_id,
            "content": content,
            "targets": targets,
            "scheduled_at": at or soon(),
        },
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def act(
    desk: Desk, headers: dict[str, str], post_id: str, verb: str, body: Any = None
) -> Any:
    return await desk.api.post(f"{POSTS}/{post_id}/{verb}", json=body, headers=headers)


async def event_types(desk: Desk, post_id: str) -> list[str]:
    """The types of the post's events, oldest first."""
    answer = await desk.api.get(EVENTS, params={"limit": 100}, headers=desk.owner.headers)
    assert answer.status_code == 200, answer.text
    items = [
        item
        for item in answer.json()["items"]
        if item["type"].startswith("post.") and item["data"].get("id") == post_id
    ]
    return [item["type"] for item in reversed(items)]


async def events_of(desk: Desk, post_id: str, type: str) -> list[dict[str, Any]]:
    answer = await desk.api.get(
        EVENTS, params={"limit": 100, "type": type}, headers=desk.owner.headers
    )
    assert answer.status_code == 200, answer.text
    return [item for item in answer.json()["items"] if item["data"].get("id") == post_id]

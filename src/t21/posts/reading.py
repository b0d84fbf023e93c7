"""Reading posts as their answers show them: a post of the caller's, and each post with its
targets, media in order, brand time zone and author (`PostView`), a few queries for any number."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.brands.models import Brand
from t21.identity.models import User
from t21.media.models import MediaAsset
from t21.organizations.models import ApiKey
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal, get_scoped
from t21.posts.models import Post, PostMedia, PostTarget


@dataclass
class PostView:
    """A post with what its answer shows: targets, media in order, the brand's timezone."""

    post: Post
    targets: list[PostTarget]
    media: list[MediaAsset]
    timezone: str
    # Heads-ups about what was just asked (e.g. the month's publishing quota running out).
    warnings: list[dict[str, str]] = field(default_factory=list)
    # Who created it: {type: "user" | "api_key", id, name}, or None once that is deleted.
    created_by: dict[str, Any] | None = None


async def get_post(
    session: AsyncSession, principal: Principal, post_id: uuid.UUID, action: Action = Action.READ
) -> Post:
    """The post, if it belongs to one of the principal's organizations; else 404."""
    return await get_scoped(session, principal, Post, post_id, what="post", action=action)


async def view(session: AsyncSession, post: Post) -> PostView:
    [one] = await views(session, [post])
    return one


async def views(session: AsyncSession, posts: Sequence[Post]) -> list[PostView]:
    """The posts with their targets, media and brand timezone, in three queries whatever
    their number."""
    if not posts:
        return []
    ids = [post.id for post in posts]
    targets: dict[uuid.UUID, list[PostTarget]] = {post_id: [] for post_id in ids}
    for target in await session.scalars(
        select(PostTarget)
        .where(PostTarget.post_id.in_(ids))
        .order_by(PostTarget.post_id, PostTarget.id)
    ):
        targets[target.post_id].append(target)
    media: dict[uuid.UUID, list[MediaAsset]] = {post_id: [] for post_id in ids}
    rows = await session.execute(
        select(PostMedia.post_id, MediaAsset)
        .join(MediaAsset, MediaAsset.id == PostMedia.media_id)
        .where(PostMedia.post_id.in_(ids))
        .order_by(PostMedia.post_id, PostMedia.position)
    )
    for post_id, asset in rows:
        media[post_id].append(asset)
    zones = await brand_zones(session, {post.brand_id for post in posts})
    authors = await authors_of(session, posts)
    return [
        PostView(
            post=post,
            targets=targets[post.id],
            media=media[post.id],
            timezone=zones.get(post.brand_id, "UTC"),
            created_by=authors.get(post.author_api_key_id or post.author_id or post.id),
        )
        for post in posts
    ]


async def brand_zones(
    session: AsyncSession, brand_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Each brand's time zone, in one query."""
    rows = await session.execute(select(Brand.id, Brand.timezone).where(Brand.id.in_(brand_ids)))
    return {row.id: row.timezone for row in rows}


class Authored(Protocol):
    """Who wrote a post, as a `Post` or a row of its columns carries it."""

    @property
    def author_id(self) -> uuid.UUID | None: ...
    @property
    def author_api_key_id(self) -> uuid.UUID | None: ...


async def authors_of(
    session: AsyncSession, posts: Sequence[Authored]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Who created each post, by user or API key id (one query each, whatever their number):
    look a post up by `author_api_key_id or author_id`."""
    found: dict[uuid.UUID, dict[str, Any]] = {}
    key_ids = {post.author_api_key_id for post in posts if post.author_api_key_id}
    if key_ids:
        for key_id, name in await session.execute(
            select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(key_ids))
        ):
            found[key_id] = {"type": "api_key", "id": key_id, "name": name}
    user_ids = {post.author_id for post in posts if post.author_id and not post.author_api_key_id}
    if user_ids:
        for user_id, name in await session.execute(
            select(User.id, User.name).where(User.id.in_(user_ids))
        ):
            found[user_id] = {"type": "user", "id": user_id, "name": name}
    return found


def author_of(principal: Principal) -> dict[str, Any] | None:
    """`created_by` of a post `principal` creates, as `authors_of` would read it back: its API
    key, else its user (the principal's own record: a change to either drops the principal
    from the cache, see `organizations.principal_cache`)."""
    if principal.api_key is not None:
        key = principal.api_key
        return {"type": "api_key", "id": key.id, "name": key.name}
    if principal.user is not None:
        return {"type": "user", "id": principal.user.id, "name": principal.user.name}
    return None

"""The posts list page (`GET /api/v1/posts`), read as rows and written as JSON once.

The list is the API's busiest read. Its answer is the one `post_out` gives for each post, but
its parts are read as rows of the columns the answer shows (no ORM objects to build, track and
discard: the page only reads them), in three queries: the page with each post's brand zone and
author (joined), the targets, the media. The page is serialized once, to bytes, by the answer's
own Pydantic model, instead of being validated again by FastAPI.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.brands.models import Brand
from t21.core.pagination import PageRequest, keyset_page
from t21.core.runtime import Runtime
from t21.identity.models import User
from t21.media.models import MediaAsset
from t21.organizations.models import ApiKey
from t21.organizations.tenancy import Principal
from t21.posts import service
from t21.posts.models import Post, PostMedia, PostTarget
from t21.posts.schemas import PostList, post_out_of

# What a post's answer shows, and the list's sort keys.
POST_COLUMNS = (
    Post.id,
    Post.brand_id,
    Post.author_id,
    Post.author_api_key_id,
    Post.content,
    Post.status,
    Post.scheduled_at,
    Post.published_at,
    Post.ai,
    Post.approval,
    Post.created_at,
    Post.updated_at,
    Post.sort_at,
    # What `reading.views` reads in queries of their own: the brand's zone, the author's name.
    Brand.timezone.label("brand_timezone"),
    ApiKey.id.label("key_found"),
    ApiKey.name.label("key_name"),
    User.id.label("user_found"),
    User.name.label("user_name"),
)
# What a target's answer shows (`TargetOut.of`, its chain of parts included).
TARGET_COLUMNS = (
    PostTarget.post_id,
    PostTarget.id,
    PostTarget.social_account_id,
    PostTarget.platform,
    PostTarget.content,
    PostTarget.options,
    PostTarget.status,
    PostTarget.attempts,
    PostTarget.due_at,
    PostTarget.external_id,
    PostTarget.permalink,
    PostTarget.published_at,
    PostTarget.last_error_code,
    PostTarget.last_error_message,
    PostTarget.thread,
    PostTarget.steps,
)
# What an asset's answer shows (`AssetOut.of`).
ASSET_COLUMNS = (
    PostMedia.post_id,
    MediaAsset.id,
    MediaAsset.brand_id,
    MediaAsset.filename,
    MediaAsset.content_type,
    MediaAsset.size,
    MediaAsset.width,
    MediaAsset.height,
    MediaAsset.duration_s,
    MediaAsset.sha256,
    MediaAsset.status,
    MediaAsset.storage_key,
    MediaAsset.thumbnail_key,
    MediaAsset.created_at,
)

# Built once: a request only adds its filters (building the column lists is a cost per request).
_PAGE = (
    select(*POST_COLUMNS)
    .outerjoin(Brand, Brand.id == Post.brand_id)
    .outerjoin(ApiKey, ApiKey.id == Post.author_api_key_id)
    .outerjoin(User, User.id == Post.author_id)
)
_TARGETS = select(*TARGET_COLUMNS).order_by(PostTarget.post_id, PostTarget.id)
_MEDIA = (
    select(*ASSET_COLUMNS)
    .join(MediaAsset, MediaAsset.id == PostMedia.media_id)
    .order_by(PostMedia.post_id, PostMedia.position)
)


async def list_page(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    page: PageRequest,
    filters: service.PostFilters,
) -> bytes:
    """A page of `service.list_posts`, as the JSON of its `PostList`: the same posts in the
    same order, each as `post_out` shows it."""
    statement, partitions = await service.list_statement(session, principal, filters, _PAGE)
    posts, next_cursor = await keyset_page(
        session,
        statement,
        keys=service.LIST_ORDER,
        key_of=lambda row: (row.sort_at, row.created_at, row.id),
        request=page,
        scalars=False,
        partitions=partitions,
    )
    items = []
    if posts:
        ids = [post.id for post in posts]
        targets = await _by_post(session, _TARGETS.where(PostTarget.post_id.in_(ids)), ids)
        media = await _by_post(session, _MEDIA.where(PostMedia.post_id.in_(ids)), ids)
        items = [
            post_out_of(
                runtime,
                post,
                targets[post.id],
                media[post.id],
                post.brand_timezone or "UTC",
                created_by=_author(post),
            )
            for post in posts
        ]
    answer = PostList(items=items, next_cursor=next_cursor)
    return PostList.__pydantic_serializer__.to_json(answer)


async def _by_post(
    session: AsyncSession, statement: Select[*tuple[Any, ...]], ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Any]]:
    """The rows of `statement` (whose first column is the post id) grouped by post, in order;
    each read by attribute as the ORM object it stands for would be."""
    grouped: dict[uuid.UUID, list[Any]] = {post_id: [] for post_id in ids}
    for row in await session.execute(statement):
        grouped[row[0]].append(row)
    return grouped


def _author(post: Any) -> dict[str, Any] | None:
    """`created_by`, as `reading.authors_of` finds it: the API key if one wrote the post, else
    the user; None once that key or user is gone."""
    if post.author_api_key_id is not None:
        if post.key_found is None:
            return None
        return {"type": "api_key", "id": post.author_api_key_id, "name": post.key_name}
    if post.author_id is None or post.user_found is None:
        return None
    return {"type": "user", "id": post.author_id, "name": post.user_name}

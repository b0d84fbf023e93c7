"""Settling posts: each post's status (and `published_at`) derived again from its targets after
the publishing engine changed them, with the events of the statuses apps hear about.

The engine settles every post it touches (a dispatcher's claim, each batch of outcomes), so the
posts and their targets are read and written as rows of columns, not ORM objects: statements
built once per number of posts, every value bound, the posts' new values written in one
executemany, and the events built from the rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from t21.brands.models import Brand
from t21.core import clock
from t21.core.db import in_list, is_postgres, list_shape, list_values
from t21.core.rows import RowWith
from t21.identity.models import User
from t21.media.models import MediaAsset
from t21.organizations.models import ApiKey
from t21.posts import status as states
from t21.posts.events import STATUS_EVENTS, status_events
from t21.posts.listing import ASSET_COLUMNS, POST_FIELDS, TARGET_COLUMNS
from t21.posts.models import Post, PostMedia, PostStatus, PostTarget, TargetStatus
from t21.posts.reading import authors_of, brand_zones

_posts = Post.metadata.tables[Post.__tablename__]
_targets = PostTarget.metadata.tables[PostTarget.__tablename__]
_post_media = PostMedia.metadata.tables[PostMedia.__tablename__]
_assets = MediaAsset.metadata.tables[MediaAsset.__tablename__]
_brands = Brand.metadata.tables[Brand.__tablename__]
_users = User.metadata.tables[User.__tablename__]
_api_keys = ApiKey.metadata.tables[ApiKey.__tablename__]

# What settling reads of a post: what its events show (`post_out_of`), its organization.
_POST_COLUMNS = (*POST_FIELDS, _posts.c.organization_id)
# The statements of `settle_posts`, one per number of posts (a dispatcher's claim settles up
# to `T21_DISPATCH_BATCH`, a batch of outcomes up to `T21_PUBLISH_BATCH`).
_SETTLE_SHAPES = 1024


@lru_cache(maxsize=_SETTLE_SHAPES)
def _posts_to_settle(count: int, postgres: bool, shown: bool) -> Select[Any]:
    """The posts, locked in id order on PostgreSQL; `shown`: with what their events show of
    their brand and author (its time zone, the author's name), read in the same statement."""
    columns: tuple[Any, ...] = _POST_COLUMNS
    source: Any = _posts
    if shown:
        columns = (
            *_POST_COLUMNS,
            _brands.c.timezone.label("brand_timezone"),
            _users.c.name.label("author_user_name"),
            _api_keys.c.name.label("author_key_name"),
        )
        source = (
            _posts.outerjoin(_brands, _brands.c.id == _posts.c.brand_id)
            .outerjoin(_users, _users.c.id == _posts.c.author_id)
            .outerjoin(_api_keys, _api_keys.c.id == _posts.c.author_api_key_id)
        )
    statement = (
        select(*columns)
        .select_from(source)
        .where(in_list(_posts.c.id, "post", count, postgres))
        .order_by(_posts.c.id)
    )
    return statement.with_for_update(of=_posts) if postgres else statement


@lru_cache(maxsize=_SETTLE_SHAPES)
def _target_states(count: int, postgres: bool) -> Select[Any]:
    return select(_targets.c.post_id, _targets.c.status, _targets.c.published_at).where(
        in_list(_targets.c.post_id, "post", count, postgres)
    )


@lru_cache(maxsize=_SETTLE_SHAPES)
def _targets_shown(count: int, postgres: bool) -> Select[Any]:
    return (
        select(*TARGET_COLUMNS)
        .where(in_list(_targets.c.post_id, "post", count, postgres))
        .order_by(_targets.c.post_id, _targets.c.id)
    )


@lru_cache(maxsize=_SETTLE_SHAPES)
def _media_shown(count: int, postgres: bool) -> Select[Any]:
    return (
        select(*ASSET_COLUMNS)
        .select_from(_post_media.join(_assets, _assets.c.id == _post_media.c.media_id))
        .where(in_list(_post_media.c.post_id, "post", count, postgres))
        .order_by(_post_media.c.post_id, _post_media.c.position)
    )


# A post's derived status and first publication, written back (an executemany).
_SETTLE = update(_posts).where(_posts.c.id == bindparam("settled_id"))


@dataclass
class _Settled:
    """A post whose status just changed, with what its event shows, as rows of columns."""

    post: Any
    targets: list[Any]
    media: list[Any]
    timezone: str
    created_by: dict[str, Any] | None


async def settle_posts(
    session: AsyncSession, post_ids: Collection[uuid.UUID], *, shown_likely: bool = False
) -> dict[uuid.UUID, PostStatus]:
    """Derive each post's status (and `published_at`, its first target's) from its targets
    again, after the publishing engine changed them; the posts' statuses.

    Read and written with statements of columns, not ORM objects (the engine settles every
    post it touches); a `Post` of the session's is given what was written. `shown_likely`: the
    posts will mostly change to a status with an event (a batch of outcomes), so their targets
    are read once with what the events show rather than twice."""
    if not post_ids:
        return {}
    await session.flush()
    ids = sorted(post_ids)
    postgres = is_postgres(session)
    shape = list_shape(len(ids), postgres)
    parameters = list_values("post", ids, postgres)
    # The posts first, locked (PostgreSQL): two transactions settling targets of one post at
    # once would each read the other's target as it was and both keep a stale status. Locked,
    # the second reads the targets after the first commits.
    posts = (
        await session.execute(_posts_to_settle(shape, postgres, shown_likely), parameters)
    ).all()
    statuses: dict[uuid.UUID, list[TargetStatus]] = {post_id: [] for post_id in ids}
    first_published: dict[uuid.UUID, datetime] = {}
    reading = _targets_shown if shown_likely else _target_states
    targets = (await session.execute(reading(shape, postgres), parameters)).all()
    for target in targets:
        post_id, status, published_at = target.post_id, target.status, target.published_at
        statuses[post_id].append(status)
        if status is TargetStatus.PUBLISHED and published_at is not None:
            earliest = first_published.get(post_id)
            first_published[post_id] = (
                published_at if earliest is None else min(earliest, published_at)
            )
    now = clock.now()
    settled: dict[uuid.UUID, dict[str, Any]] = {}
    written: list[dict[str, Any]] = []
    eventful: list[RowWith] = []
    said: dict[uuid.UUID, tuple[str, dict[str, Any] | None]] = {}
    for post in posts:
        values = {
            "status": states.derive(statuses[post.id]),
            "published_at": first_published.get(post.id),
        }
        settled[post.id] = values
        if post.status is values["status"] and post.published_at == values["published_at"]:
            continue
        values["updated_at"] = now
        written.append({"settled_id": post.id, **values})
        # Only a status an app hears about costs the reads of the post's view.
        if post.status is not values["status"] and values["status"] in STATUS_EVENTS:
            eventful.append(RowWith(post, **values))
            if shown_likely:
                said[post.id] = _said(post)
    if written:
        await session.execute(_SETTLE, written)
    _given(session, settled)
    if eventful:
        shown = await _shown(session, eventful, (targets, said) if shown_likely else None)
        await status_events(session, shown)
    return {post_id: values["status"] for post_id, values in settled.items()}


def _given(session: AsyncSession, settled: dict[uuid.UUID, dict[str, Any]]) -> None:
    """Give the session's `Post`s of the settled posts what was read and written, as if they
    had been loaded again: their callers answer with them."""
    for loaded in list(session.sync_session.identity_map.values()):
        if isinstance(loaded, Post) and loaded.id in settled:
            for name, value in settled[loaded.id].items():
                set_committed_value(loaded, name, value)


async def _shown(
    session: AsyncSession,
    posts: list[RowWith],
    read: tuple[Sequence[Any], dict[uuid.UUID, tuple[str, dict[str, Any] | None]]] | None,
) -> list[_Settled]:
    """The settled posts with their targets, media, brand time zone and author, as rows: the
    targets and what the posts' read said of brand and author (`read`), or read now."""
    ids = [post.id for post in posts]
    postgres = is_postgres(session)
    shape = list_shape(len(ids), postgres)
    parameters = list_values("post", ids, postgres)
    targets: dict[uuid.UUID, list[Any]] = {post_id: [] for post_id in ids}
    media: dict[uuid.UUID, list[Any]] = {post_id: [] for post_id in ids}
    if read is None:
        rows = (await session.execute(_targets_shown(shape, postgres), parameters)).all()
        zones = await brand_zones(session, {post.brand_id for post in posts})
        authors = await authors_of(session, posts)
        said = {
            post.id: (
                zones.get(post.brand_id, "UTC"),
                authors.get(post.author_api_key_id or post.author_id or post.id),
            )
            for post in posts
        }
    else:
        rows, said = read
    for row in rows:
        if row.post_id in targets:
            targets[row.post_id].append(row)
    for row in await session.execute(_media_shown(shape, postgres), parameters):
        media[row.post_id].append(row)
    return [
        _Settled(
            post=post,
            targets=targets[post.id],
            media=media[post.id],
            timezone=said[post.id][0],
            created_by=said[post.id][1],
        )
        for post in posts
    ]


def _said(post: Any) -> tuple[str, dict[str, Any] | None]:
    """A post's brand time zone and author, from its row read with them (`_posts_to_settle`),
    as `brand_zones` and `authors_of` give them."""
    author: dict[str, Any] | None = None
    if post.author_api_key_id is not None:
        if post.author_key_name is not None:
            author = {"type": "api_key", "id": post.author_api_key_id, "name": post.author_key_name}
    elif post.author_id is not None and post.author_user_name is not None:
        author = {"type": "user", "id": post.author_id, "name": post.author_user_name}
    return post.brand_timezone or "UTC", author

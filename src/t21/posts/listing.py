"""Listing posts (`GET /api/v1/posts`, the export, bulk actions' filter): their filters, order
and pages, and the list's page read as rows and written as JSON once.

The list is the API's busiest read. Its statements are built once for each shape of request
(how many organizations the caller acts in, which filters, whether a cursor follows), with
every value a bound parameter: a request only looks its statement up and binds its values, so
SQLAlchemy neither builds nor cache-keys nor re-renders a statement per request, and the SQL is
what building it each time rendered.

The page's answer is the one `post_out` gives for each post, but its parts are read as rows of
the columns the answer shows (no ORM objects to build, track and discard: the page only reads
them), in one statement: the page with each post's brand zone, author and whether it has media
(joined), left-joined to its targets (one row per target, or one for a post without any); the
media in a second only if a post of the page has some. Each statement costs a round trip and
SQLAlchemy's execution work, about what building the whole answer costs. The page is
built as plain values in the order of `PostOut`'s fields and written to bytes once by
pydantic-core (the JSON the models write), neither validated into models nor again by FastAPI.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from pydantic_core import from_json, to_json
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Enum,
    Select,
    String,
    Text,
    bindparam,
    exists,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from t21.brands import service as brands_service
from t21.brands.models import Brand
from t21.core.db import in_list, list_shape, list_values, read_bind
from t21.core.localtime import day_start
from t21.core.models import UTCDateTime
from t21.core.pagination import (
    MAX_LIMIT,
    PageRequest,
    keyset_statement,
    page_of,
    page_parameters,
)
from t21.core.prepared import fetch_pooled, fetch_rows
from t21.core.runtime import Runtime
from t21.core.uow import read_connection, read_scope
from t21.identity.models import User
from t21.media.models import MediaAsset
from t21.media.schemas import AssetOut
from t21.media.storage import Storage, storage_of
from t21.organizations.models import ApiKey
from t21.organizations.tenancy import (
    Principal,
    scoped_by_parameters,
    tenant_parameters,
    tenant_partitions,
)
from t21.posts import reading
from t21.posts.chain import first_comment_of
from t21.posts.models import Post, PostMedia, PostStatus, PostTarget, TargetStatus
from t21.posts.schemas import AiUsage, Approval, TargetOut, local_time
from t21.posts.status import PENDING

# The tables, as Core sees them: statements of their columns are not ORM statements, so their
# rows come back as plain rows, without the ORM's compile and loading steps.
_posts = Post.__table__
_targets = PostTarget.__table__
_post_media = PostMedia.__table__
_assets = MediaAsset.__table__
_brands = Brand.__table__
_keys = ApiKey.__table__
_users = User.__table__

# The list's order, which its indexes follow (`ix_posts_organization_id_sort` and the like).
LIST_ORDER = (_posts.c.sort_at, _posts.c.created_at, _posts.c.id)


@dataclass(frozen=True)
class PostFilters:
    brand_id: uuid.UUID | None = None
    status: PostStatus | None = None
    platform: str | None = None
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None


async def calendar_window(
    runtime: Runtime,
    principal: Principal,
    brand_id: uuid.UUID | None,
    start: datetime | date | None,
    end: datetime | date | None,
) -> tuple[datetime | None, datetime | None]:
    """The list's `from`/`to` as UTC instants. A plain date is that whole day in the brand's
    time zone (UTC without `brand_id`): `from` its first instant, `to` the next day's first.
    The brand is read (in a read session of its own) only then."""
    zone: ZoneInfo | None = None

    async def zone_of_brand() -> ZoneInfo:
        if brand_id is None:
            return ZoneInfo("UTC")
        async with read_scope(runtime) as session:
            brand = await brands_service.get_brand(session, principal, brand_id)
        return ZoneInfo(brand.timezone)

    def instant(
        value: datetime | date | None, zone: ZoneInfo | None, after: int
    ) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value.astimezone(UTC) if value is not None else None
        assert zone is not None
        return day_start(value + timedelta(days=after), zone)

    if any(isinstance(value, date) and not isinstance(value, datetime) for value in (start, end)):
        zone = await zone_of_brand()
    return instant(start, zone, 0), instant(end, zone, 1)


@dataclass(frozen=True)
class _Shape:
    """What a list statement's SQL depends on; the values are bound parameters."""

    organizations: int
    brand: bool
    status: bool
    platform: bool
    start: bool
    end: bool
    after: bool


def _shape(principal: Principal, filters: PostFilters, page: PageRequest) -> _Shape:
    return _Shape(
        organizations=len(principal.organization_ids),
        brand=filters.brand_id is not None,
        status=filters.status is not None,
        platform=filters.platform is not None,
        start=filters.scheduled_from is not None,
        end=filters.scheduled_to is not None,
        after=page.after is not None,
    )


async def _parameters(
    session: AsyncSession, principal: Principal, filters: PostFilters, page: PageRequest
) -> dict[str, Any]:
    """The values of the list statement for this request (404 for a brand the caller can't
    see, 422 for a cursor that isn't the list's)."""
    if filters.brand_id is not None:
        await brands_service.get_brand(session, principal, filters.brand_id)
    return _values(principal, filters, page)


def _values(principal: Principal, filters: PostFilters, page: PageRequest) -> dict[str, Any]:
    """`_parameters` once the brand, if any, is known to be the caller's."""
    parameters = page_parameters(page, LIST_ORDER) | tenant_parameters(principal)
    values = {
        "brand_id": filters.brand_id,
        "status": filters.status,
        "platform": filters.platform,
        "scheduled_from": filters.scheduled_from,
        "scheduled_to": filters.scheduled_to,
    }
    return parameters | {name: value for name, value in values.items() if value is not None}


def _listed(statement: Select[*tuple[Any, ...]], shape: _Shape) -> Select[*tuple[Any, ...]]:
    """`statement` (of posts, or of their columns) restricted to the caller's organizations and
    the filters, and paged: without a brand, one indexed walk per organization of the caller,
    merged (see `keyset_statement`)."""
    statement = scoped_by_parameters(statement, _posts.c.organization_id, shape.organizations)
    if shape.brand:
        statement = statement.where(_posts.c.brand_id == bindparam("brand_id"))
    if shape.status:
        statement = statement.where(_posts.c.status == bindparam("status"))
    if shape.platform:
        statement = statement.where(
            exists().where(
                _targets.c.post_id == _posts.c.id, _targets.c.platform == bindparam("platform")
            )
        )
    if shape.start:
        statement = statement.where(_posts.c.sort_at >= bindparam("scheduled_from"))
    if shape.end:
        statement = statement.where(_posts.c.sort_at < bindparam("scheduled_to"))
    partitions: list[ColumnElement[bool]] = (
        [] if shape.brand else tenant_partitions(_posts.c.organization_id, shape.organizations)
    )
    return keyset_statement(statement, keys=LIST_ORDER, after=shape.after, partitions=partitions)


# A few shapes serve nearly every request; a caller in many organizations adds its own.
_SHAPES_KEPT = 256


@lru_cache(maxsize=_SHAPES_KEPT)
def _posts_statement(shape: _Shape) -> Select[Post]:
    return cast("Select[Post]", _listed(select(Post), shape))


async def list_posts(
    session: AsyncSession, principal: Principal, page: PageRequest, filters: PostFilters
) -> tuple[list[reading.PostView], str | None]:
    """Posts in order of `scheduled_at` (unscheduled drafts last), then creation; each page
    through an index on those keys, so it costs the same on the millionth post."""
    parameters = await _parameters(session, principal, filters, page)
    statement = _posts_statement(_shape(principal, filters, page))
    rows = (await session.scalars(statement, parameters)).all()
    posts, next_cursor = page_of(rows, page, lambda post: (post.sort_at, post.created_at, post.id))
    return await reading.views(session, posts), next_cursor


# The post's own columns that its answer (and its events) show.
POST_FIELDS = (
    _posts.c.id,
    _posts.c.brand_id,
    _posts.c.author_id,
    _posts.c.author_api_key_id,
    _posts.c.content,
    _posts.c.status,
    _posts.c.scheduled_at,
    _posts.c.published_at,
    _posts.c.ai,
    _posts.c.approval,
    _posts.c.created_at,
    _posts.c.updated_at,
)
# What a post's answer shows, and the list's sort keys.
POST_COLUMNS = (
    *POST_FIELDS,
    _posts.c.sort_at,
    # What `reading.views` reads in queries of their own: the brand's zone, the author's name.
    _brands.c.timezone.label("brand_timezone"),
    _keys.c.id.label("key_found"),
    _keys.c.name.label("key_name"),
    _users.c.id.label("user_found"),
    _users.c.name.label("user_name"),
    # Whether the post has media (an index probe each): a page without any reads none.
    exists().where(_post_media.c.post_id == _posts.c.id).label("has_media"),
)
# What a target's answer shows (`TargetOut.of`, its chain of parts included).
TARGET_COLUMNS = (
    _targets.c.post_id,
    _targets.c.id,
    _targets.c.social_account_id,
    _targets.c.platform,
    _targets.c.content,
    _targets.c.options,
    _targets.c.status,
    _targets.c.attempts,
    _targets.c.due_at,
    _targets.c.external_id,
    _targets.c.permalink,
    _targets.c.published_at,
    _targets.c.last_error_code,
    _targets.c.last_error_message,
    _targets.c.thread,
    _targets.c.steps,
)
# What an asset's answer shows (`AssetOut.of`).
ASSET_COLUMNS = (
    _post_media.c.post_id,
    _assets.c.id,
    _assets.c.brand_id,
    _assets.c.filename,
    _assets.c.content_type,
    _assets.c.size,
    _assets.c.width,
    _assets.c.height,
    _assets.c.duration_s,
    _assets.c.sha256,
    _assets.c.status,
    _assets.c.storage_key,
    _assets.c.thumbnail_key,
    _assets.c.created_at,
)

_PAGE = select(*POST_COLUMNS).select_from(
    _posts.outerjoin(_brands, _brands.c.id == _posts.c.brand_id)
    .outerjoin(_keys, _keys.c.id == _posts.c.author_api_key_id)
    .outerjoin(_users, _users.c.id == _posts.c.author_id)
)
_MEDIA = (
    select(*ASSET_COLUMNS)
    .select_from(_post_media.join(_assets, _assets.c.id == _post_media.c.media_id))
    .order_by(_post_media.c.post_id, _post_media.c.position)
)


def _as_read(column: ColumnElement[Any], name: str, postgres: bool) -> ColumnElement[Any]:
    """`column` as the page reads it. On PostgreSQL its timestamps and statuses skip
    SQLAlchemy's conversion of each value: asyncpg reads a timestamp as an aware UTC datetime
    already, which `UTCDateTime` converted again (`astimezone`, ~0.4 µs; a page of 20 posts
    with 29 targets holds ~250), and a status is written as its value, which the `Enum` type
    looked up as a member first. A target's options come as the text of their JSON, which
    asyncpg decoded with `json.loads` through a Python callback (~1.5 µs a target, almost
    always `{}`). SQLite gives naive datetimes, which `UTCDateTime` makes aware."""
    if postgres and isinstance(column.type, UTCDateTime):
        column = type_coerce(column, DateTime(timezone=True))
    elif postgres and column is _targets.c.options:
        column = column.cast(Text)
    elif isinstance(column.type, Enum):
        column = type_coerce(column, String)
    return column.label(name)


@lru_cache(maxsize=_SHAPES_KEPT)
def _page_statement(shape: _Shape, postgres: bool) -> Select[*tuple[Any, ...]]:
    """The page (one more post than it shows, if there is one) with its posts' targets: the
    page's posts first, as a subquery, then their targets joined by `post_id` (an index probe
    each), in the page's order and each post's targets by id."""
    page = _listed(_PAGE, shape).subquery("page")
    return (
        select(
            *(_as_read(column, column.name, postgres) for column in page.c),
            *(_as_read(column, f"target_{column.name}", postgres) for column in TARGET_COLUMNS),
        )
        .select_from(page.outerjoin(_targets, _targets.c.post_id == page.c.id))
        .order_by(*(page.c[str(key.key)] for key in LIST_ORDER), _targets.c.id)
    )


# Where a row of `_page_statement` (read by position: `fetch_rows`) has its target's columns,
# whether its post has media, and the keys of its post.
_TARGET_AT = len(POST_COLUMNS)
_HAS_MEDIA = _TARGET_AT - 1
_POST_KEYS = tuple(
    [column.name for column in POST_COLUMNS].index(str(key.key)) for key in LIST_ORDER
)


class _TargetRow(NamedTuple):
    """A target's columns (`TARGET_COLUMNS`) from a row of the page, read by attribute as
    `TargetOut.of` reads a target."""

    post_id: uuid.UUID
    id: uuid.UUID
    social_account_id: uuid.UUID
    platform: str
    content: str | None
    options: dict[str, Any] | None
    status: Any
    attempts: int
    due_at: datetime | None
    external_id: str | None
    permalink: str | None
    published_at: datetime | None
    last_error_code: str | None
    last_error_message: str | None
    thread: list[dict[str, Any]] | None
    steps: Any


@lru_cache(maxsize=MAX_LIMIT)
def _media_of(shape: int, postgres: bool) -> Select[*tuple[Any, ...]]:
    """The media of the posts bound under `post` (`list_values`): one statement for any
    number of them on PostgreSQL, one per number elsewhere (`list_shape`)."""
    return _MEDIA.where(in_list(_post_media.c.post_id, "post", shape, postgres))


async def list_page(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    page: PageRequest,
    filters: PostFilters,
) -> bytes:
    """A page of `list_posts`, as the JSON of its `PostList`: the same posts in the same
    order, each as `post_out` shows it."""
    parameters = await _parameters(session, principal, filters, page)
    # Core statements on the session's connection: the session's own `execute` adds the ORM's
    # per-statement work (execution state, events, binding), which plain rows don't need.
    connection = await session.connection()
    postgres = connection.dialect.name == "postgresql"
    statement = _page_statement(_shape(principal, filters, page), postgres)
    rows = await fetch_rows(connection, statement, parameters)

    async def media_of(statement: Select[*tuple[Any, ...]], values: dict[str, Any]) -> Any:
        return await _by_post(connection, statement, values)

    return await _page_json(runtime, page, rows, postgres, media_of)


async def list_page_pooled(
    runtime: Runtime, principal: Principal, page: PageRequest, filters: PostFilters
) -> bytes | None:
    """`list_page` without a session, its statement on a pooled connection taken for it alone
    (`core.prepared.fetch_pooled`, ~0.15 ms of CPU less a page, 2026-12-07: no session, no
    SQLAlchemy connection), for a list of all the caller's brands on PostgreSQL; None where
    that doesn't apply (a brand to check first, another database), and the caller runs
    `list_page`. The media of the page's posts, if any, are read on a connection of their own
    as they would be on the session's: each statement outside a transaction either way."""
    if filters.brand_id is not None or runtime.read_sessionmaker is None:
        return None
    parameters = _values(principal, filters, page)
    statement = _page_statement(_shape(principal, filters, page), True)
    rows = await fetch_pooled(read_bind(runtime.read_sessionmaker), statement, parameters)
    if rows is None:
        return None

    async def media_of(statement: Select[*tuple[Any, ...]], values: dict[str, Any]) -> Any:
        async with read_connection(runtime) as connection:
            return await _by_post(connection, statement, values)

    return await _page_json(runtime, page, rows, True, media_of)


async def _page_json(
    runtime: Runtime,
    page: PageRequest,
    page_rows: Sequence[Any],
    postgres: bool,
    media_of: Callable[
        [Select[*tuple[Any, ...]], dict[str, Any]], Awaitable[dict[uuid.UUID, list[Any]]]
    ],
) -> bytes:
    """The page's JSON from the rows of `_page_statement` (a post's columns with one of its
    targets', or none), its posts' media read by `media_of`."""
    rows: list[Any] = []
    targets: dict[uuid.UUID, list[Any]] = {}
    for row in page_rows:
        post_id = row[0]
        of_post = targets.get(post_id)
        if of_post is None:
            rows.append(row)
            of_post = targets[post_id] = []
        if row[_TARGET_AT] is not None:  # its target's post_id: a post without any has none
            of_post.append(row[_TARGET_AT:])
    posts, next_cursor = page_of(rows, page, lambda row: tuple(row[i] for i in _POST_KEYS))
    items: list[dict[str, Any]] = []
    if posts:
        ids = [post[0] for post in posts]
        illustrated = [post[0] for post in posts if post[_HAS_MEDIA]]
        media: dict[uuid.UUID, list[Any]] = {post_id: [] for post_id in ids}
        if illustrated:
            statement = _media_of(list_shape(len(illustrated), postgres), postgres)
            values = list_values("post", illustrated, postgres)
            media |= await media_of(statement, values)
        shown = _Shown(runtime)
        items = [shown.post(post, targets[post[0]], media[post[0]]) for post in posts]
    return to_json({"items": items, "next_cursor": next_cursor})


class _Shown:
    """The page's posts as `post_out_of` shows them, built as plain dicts in the fields' order
    of `PostOut` (and `TargetOut`) and written as JSON by pydantic-core, as the models would
    be: the page only writes them, so validating each value into a model bought nothing. The
    parts that are rare or need checking (a thread, a first comment, AI usage, an approval,
    media) still go through their models. Statuses are given as their values and ids as
    strings: the same JSON, but pydantic-core writes an enum member slowly, and the UUIDs of
    asyncpg (a subclass of `uuid.UUID`) about 17 times slower than `uuid.UUID`s, ~3 µs each:
    with them, `to_json` was ~14 % of the list's CPU."""

    __slots__ = ("runtime", "storage", "ttl")

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.storage: Storage | None = None
        self.ttl = runtime.settings.media_url_ttl_s

    def post(self, row: Any, targets: list[Any], media: list[Any]) -> dict[str, Any]:
        (
            post_id,
            brand_id,
            author_id,
            author_api_key_id,
            content,
            status,
            scheduled_at,
            published_at,
            ai,
            approval,
            created_at,
            updated_at,
            _sort_at,
            brand_timezone,
            key_found,
            key_name,
            user_found,
            user_name,
            _has_media,
        ) = row[:_TARGET_AT]
        created_by: dict[str, Any] | None = None
        if author_api_key_id is not None:
            if key_found is not None:
                created_by = {"type": "api_key", "id": str(author_api_key_id), "name": key_name}
        elif author_id is not None and user_found is not None:
            created_by = {"type": "user", "id": str(author_id), "name": user_name}
        timezone = brand_timezone or "UTC"
        return {
            "id": str(post_id),
            "brand_id": str(brand_id),
            "author_id": str(author_id) if author_id is not None else None,
            "created_by": created_by,
            "content": content,
            "media": [self.asset(asset) for asset in media],
            "status": str(status),
            "scheduled_at": scheduled_at,
            "scheduled_at_local": local_time(scheduled_at, timezone),
            "timezone": timezone,
            "published_at": published_at,
            "ai": AiUsage.model_validate(ai) if ai else None,
            "approval": Approval.model_validate(approval) if approval else None,
            "created_at": created_at,
            "updated_at": updated_at,
            "targets": [self.target(target) for target in targets],
            "warnings": [],
        }

    def asset(self, row: Any) -> AssetOut:
        if self.storage is None:
            self.storage = storage_of(self.runtime)
        return AssetOut.of(row, self.storage, self.ttl)

    @staticmethod
    def target(row: Any) -> dict[str, Any] | TargetOut:
        (
            _post_id,
            target_id,
            social_account_id,
            platform,
            content,
            options,
            status,
            attempts,
            due_at,
            external_id,
            permalink,
            published_at,
            last_error_code,
            last_error_message,
            thread,
            _steps,
        ) = row
        if isinstance(options, str):  # on PostgreSQL, the JSON's text (`_as_read`)
            options = {} if options == "{}" else from_json(options)
        if thread or (options and first_comment_of(platform, options) is not None):
            # Parts or a first comment to show: the chain's view, through the model.
            shown = _TargetRow._make(row)._replace(status=TargetStatus(status), options=options)
            return TargetOut.of(shown)
        return {
            "id": str(target_id),
            "social_account_id": str(social_account_id),
            "platform": platform,
            "content": content,
            "options": dict(options or {}),
            "status": str(status),
            "attempts": attempts,
            "next_attempt_at": due_at if status in PENDING else None,
            "external_id": external_id,
            "permalink": permalink,
            "published_at": published_at,
            "last_error": (
                {"code": last_error_code, "message": last_error_message or ""}
                if last_error_code
                else None
            ),
            "thread": None,
            "parts": [],
            "first_comment": None,
        }


async def _by_post(
    connection: AsyncConnection, statement: Select[*tuple[Any, ...]], values: dict[str, Any]
) -> dict[uuid.UUID, list[Any]]:
    """The rows of `statement` with the parameters `values` (its first column is the post
    id), grouped by post, in order; each read by attribute as the ORM object it stands for
    would be."""
    grouped: dict[uuid.UUID, list[Any]] = {}
    for row in await connection.execute(statement, values):
        grouped.setdefault(row[0], []).append(row)
    return grouped

"""Reading the numbers: a post's targets with their history, a brand's totals and time series,
its best posts, and every collection as CSV.

Each answer takes a fixed number of queries whatever the size of the brand; aggregates are
computed in SQL with window functions (SQLite and PostgreSQL alike), and only the UTC day or
week of a collection is written per dialect.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.analytics.models import METRICS, MetricSnapshot
from t21.analytics.schemas import (
    ENGAGEMENT,
    BrandAnalytics,
    Interval,
    Metrics,
    PostAnalytics,
    RankMetric,
    SeriesPoint,
    SnapshotOut,
    TargetAnalytics,
    TopPost,
    TopPosts,
    engagement_rate,
)
from t21.brands import service as brands_service
from t21.brands.models import Brand
from t21.core import clock
from t21.core.errors import ValidationFailed
from t21.core.runtime import Runtime
from t21.core.spreadsheet import csv_line
from t21.core.uow import session_scope
from t21.organizations.tenancy import Principal, scoped
from t21.platforms import registry
from t21.platforms.base import metrics_unavailable
from t21.posts import reading
from t21.posts.models import Post, PostTarget
from t21.social.models import SocialAccount

DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=366)
EXPORT_PAGE = 1000
CSV_COLUMNS = (
    "post_id",
    "target_id",
    "platform",
    "published_at",
    "collected_at",
    *METRICS,
    "engagement_rate",
)

S = MetricSnapshot


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def window(start: datetime | None, end: datetime | None) -> Window:
    """`[from, to)`, each defaulting (to: now, from: 30 days before `to`); 422 unless `from` is
    before `to` and the window spans at most 366 days."""
    try:
        end = (end or clock.now()).astimezone(UTC)
        start = (start or end - DEFAULT_WINDOW).astimezone(UTC)
    except OverflowError:
        raise _invalid("from", "The window is outside the range of dates.") from None
    if start >= end:
        raise _invalid("to", "`from` must be before `to`.")
    if end - start > MAX_WINDOW:
        raise _invalid("to", f"The window spans at most {MAX_WINDOW.days} days.")
    return Window(start, end)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"loc": ["query", field], "msg": message}])


# --- one post ------------------------------------------------------------------------------------


async def post_analytics(
    session: AsyncSession, principal: Principal, post_id: uuid.UUID
) -> PostAnalytics:
    """Every target of the post with its latest numbers and their history."""
    post = await reading.get_post(session, principal, post_id)
    targets = (
        await session.scalars(
            select(PostTarget)
            .where(PostTarget.post_id == post.id)
            .order_by(PostTarget.created_at, PostTarget.id)
        )
    ).all()
    snapshots = (
        await session.scalars(
            scoped(select(S), principal, S.organization_id)
            .where(S.post_id == post.id)
            .order_by(S.collected_at, S.id)
        )
    ).all()
    history: dict[uuid.UUID, list[SnapshotOut]] = {target.id: [] for target in targets}
    for snapshot in snapshots:
        history.setdefault(snapshot.target_id, []).append(SnapshotOut.snapshot(snapshot))
    notes = await _account_notes(session, targets)
    answers = [
        _target_analytics(target, history[target.id], _why_none(target, notes))
        for target in targets
    ]
    latest = [answer.latest for answer in answers if answer.latest is not None]
    return PostAnalytics(
        post_id=post.id,
        brand_id=post.brand_id,
        totals=_sum(latest),
        targets=answers,
    )


async def _account_notes(
    session: AsyncSession, targets: Sequence[PostTarget]
) -> dict[uuid.UUID, str]:
    """Why each of the targets' accounts has its numbers skipped, for those that have."""
    ids = {target.social_account_id for target in targets if target.social_account_id}
    if not ids:
        return {}
    rows = await session.execute(
        select(SocialAccount.id, SocialAccount.metrics_unavailable).where(
            SocialAccount.id.in_(ids), SocialAccount.metrics_unavailable.is_not(None)
        )
    )
    return {account_id: str(note) for account_id, note in rows.all()}


def _why_none(target: PostTarget, notes: dict[uuid.UUID, str]) -> str | None:
    """The network's own reason first (it never has numbers per post), then the account's."""
    if target.platform in registry.names():
        reason = metrics_unavailable(registry.provider_class(target.platform))
        if reason is not None:
            return reason
    return notes.get(target.social_account_id) if target.social_account_id else None


def _target_analytics(
    target: PostTarget, history: list[SnapshotOut], why_none: str | None = None
) -> TargetAnalytics:
    return TargetAnalytics(
        target_id=target.id,
        social_account_id=target.social_account_id,
        platform=target.platform,
        status=target.status,
        external_id=target.external_id,
        permalink=target.permalink,
        published_at=target.published_at,
        next_collect_at=target.next_collect_at,
        latest=history[-1] if history else None,
        history=history,
        metrics_unavailable=why_none,
    )


def _sum(latest: Sequence[Metrics]) -> Metrics:
    """The sum of each metric over `latest`, null where none has it; the rate over the sum of
    each one's impressions (or reach)."""
    totals: dict[str, int | None] = {}
    for name in METRICS:
        values = [getattr(one, name) for one in latest if getattr(one, name) is not None]
        totals[name] = sum(values) if values else None
    exposures = [_exposure(one) for one in latest]
    known = [value for value in exposures if value is not None]
    return Metrics.of(totals, exposure=sum(known) if known else None)


def _exposure(metrics: Metrics) -> int | None:
    return metrics.impressions if metrics.impressions is not None else metrics.reach


# --- a brand -------------------------------------------------------------------------------------


def _latest_per_target(
    principal: Principal, brand: Brand, *partition: Any, where: Sequence[Any] = ()
) -> Select[Any]:
    """The brand's snapshots with `rn` = 1 on each target's latest (within `partition`)."""
    return scoped(
        select(
            S.target_id,
            S.post_id,
            S.collected_at,
            *(getattr(S, name) for name in METRICS),
            func.row_number()
            .over(
                partition_by=(S.target_id, *partition),
                order_by=(S.collected_at.desc(), S.id.desc()),
            )
            .label("rn"),
        ),
        principal,
        S.organization_id,
    ).where(S.brand_id == brand.id, *where)


def _exposure_of(columns: Any) -> ColumnElement[Any]:
    return func.coalesce(columns.impressions, columns.reach)


async def brand_analytics(
    session: AsyncSession,
    principal: Principal,
    brand_id: uuid.UUID,
    period: Window,
    *,
    interval: Interval,
    platform: str | None = None,
) -> BrandAnalytics:
    """The brand's totals over the window and their level per day or week."""
    brand = await brands_service.get_brand(session, principal, brand_id)
    where: list[Any] = [S.collected_at >= period.start, S.collected_at < period.end]
    if platform is not None:
        where.append(S.platform == platform)
    latest = _latest_per_target(principal, brand, where=where).subquery("latest")
    totals = (
        await session.execute(
            select(
                func.count(),
                func.count(func.distinct(latest.c.post_id)),
                *(func.sum(latest.c[name]).label(name) for name in METRICS),
                func.sum(_exposure_of(latest.c)).label("exposure"),
            ).where(latest.c.rn == 1)
        )
    ).one()
    total_values = {name: getattr(totals, name) for name in METRICS}
    series = await _series(session, principal, brand, where, interval)
    return BrandAnalytics(
        brand_id=brand.id,
        from_=period.start,
        to=period.end,
        interval=interval,
        platform=platform,
        targets=totals[0],
        posts=totals[1],
        totals=Metrics.of(total_values, exposure=_int(totals.exposure)),
        series=_points(series, period, interval, total_values),
    )


def _bucket(session: AsyncSession, interval: Interval) -> ColumnElement[Any]:
    """The UTC day (or the Monday of the ISO week) of a snapshot's collection."""
    column = S.collected_at
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone("UTC", column)
        if interval is Interval.WEEK:
            return func.date(func.date_trunc("week", utc))
        return func.date(utc)
    # SQLite stores UTC text; 'weekday 0' moves to the next Sunday (or stays), -6 days: Monday.
    if interval is Interval.WEEK:
        return func.date(column, literal("weekday 0"), literal("-6 days"))
    return func.date(column)


async def _series(
    session: AsyncSession,
    principal: Principal,
    brand: Brand,
    where: Sequence[Any],
    interval: Interval,
) -> dict[date, dict[str, int]]:
    """Per bucket, how much the sum of each target's latest numbers moved: each target's latest
    snapshot in the bucket minus its latest in an earlier bucket."""
    bucketed = (
        scoped(
            select(
                S.id,
                S.target_id,
                S.collected_at,
                *(getattr(S, name) for name in METRICS),
                _bucket(session, interval).label("bucket"),
            ),
            principal,
            S.organization_id,
        )
        .where(S.brand_id == brand.id, *where)
        .subquery("bucketed")
    )
    ranked = select(
        bucketed,
        func.row_number()
        .over(
            partition_by=(bucketed.c.target_id, bucketed.c.bucket),
            order_by=(bucketed.c.collected_at.desc(), bucketed.c.id.desc()),
        )
        .label("rn"),
    ).subquery("ranked")
    names = [*METRICS, "exposure"]
    values = {name: ranked.c[name] for name in METRICS} | {"exposure": _exposure_of(ranked.c)}
    deltas = (
        select(
            ranked.c.bucket,
            *(
                (
                    func.coalesce(values[name], 0)
                    - func.coalesce(
                        func.lag(values[name]).over(
                            partition_by=ranked.c.target_id, order_by=ranked.c.bucket
                        ),
                        0,
                    )
                ).label(name)
                for name in names
            ),
        )
        .where(ranked.c.rn == 1)
        .subquery("deltas")
    )
    rows = await session.execute(
        select(deltas.c.bucket, *(func.sum(deltas.c[name]).label(name) for name in names))
        .group_by(deltas.c.bucket)
        .order_by(deltas.c.bucket)
    )
    return {
        _day(row.bucket): {name: int(getattr(row, name) or 0) for name in names} for row in rows
    }


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _points(
    changes: dict[date, dict[str, int]],
    period: Window,
    interval: Interval,
    totals: dict[str, Any],
) -> list[SeriesPoint]:
    step = timedelta(weeks=1) if interval is Interval.WEEK else timedelta(days=1)
    first = period.start.date()
    last = (period.end - timedelta(microseconds=1)).date()
    if interval is Interval.WEEK:
        first -= timedelta(days=first.weekday())
    level = dict.fromkeys([*METRICS, "exposure"], 0)
    points: list[SeriesPoint] = []
    for index in range((last - first).days // step.days + 1):
        start = first + index * step
        for name, change in changes.get(start, {}).items():
            level[name] += change
        shown: dict[str, int | None] = {
            name: None if totals[name] is None else level[name] for name in METRICS
        }
        points.append(
            SeriesPoint(
                **shown,
                engagement_rate=engagement_rate(shown, level["exposure"]),
                start=start,
            )
        )
    return points


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


async def top_posts(
    session: AsyncSession,
    principal: Principal,
    brand_id: uuid.UUID,
    *,
    metric: RankMetric,
    limit: int,
) -> TopPosts:
    """The brand's posts with the highest sum over their targets of each target's latest
    `metric` (posts without that number are left out)."""
    brand = await brands_service.get_brand(session, principal, brand_id)
    latest = _latest_per_target(principal, brand).subquery("latest")
    per_post = (
        select(
            latest.c.post_id,
            *(func.sum(latest.c[name]).label(name) for name in METRICS),
            func.sum(_exposure_of(latest.c)).label("exposure"),
        )
        .where(latest.c.rn == 1)
        .group_by(latest.c.post_id)
        .subquery("per_post")
    )
    value = _rank_value(per_post.c, metric)
    rows = (
        await session.execute(
            select(per_post, value.label("value"))
            .where(value.is_not(None))
            .order_by(value.desc(), per_post.c.post_id.desc())
            .limit(limit)
        )
    ).all()
    posts = {
        post.id: post
        for post in await session.scalars(
            scoped(select(Post), principal, Post.organization_id).where(
                Post.id.in_([row.post_id for row in rows])
            )
        )
    }
    items: list[TopPost] = []
    for row in rows:
        post = posts.get(row.post_id)
        if post is None:
            continue
        totals = Metrics.of(dict(row._mapping), exposure=_int(row.exposure))
        items.append(
            TopPost(
                post_id=post.id,
                content=post.content,
                status=post.status,
                published_at=post.published_at,
                value=_rank_number(metric, row.value, totals),
                totals=totals,
            )
        )
    return TopPosts(metric=metric, items=items)


def _rank_value(columns: Any, metric: RankMetric) -> ColumnElement[Any]:
    if metric is not RankMetric.ENGAGEMENT_RATE:
        result: ColumnElement[Any] = columns[metric.value]
        return result
    engaged = [columns[name] for name in ENGAGEMENT]
    likes, comments, shares, saves = (func.coalesce(column, 0) for column in engaged)
    numerator = likes + comments + shares + saves
    return case(
        (func.coalesce(*engaged).is_(None), None),
        else_=numerator * 1.0 / func.nullif(columns.exposure, 0),
    )


def _rank_number(metric: RankMetric, value: Any, totals: Metrics) -> float | int:
    if metric is RankMetric.ENGAGEMENT_RATE:
        return totals.engagement_rate if totals.engagement_rate is not None else float(value)
    return int(value)


# --- CSV export ----------------------------------------------------------------------------------


async def export_brand(session: AsyncSession, principal: Principal, brand_id: uuid.UUID) -> Brand:
    """The brand whose collections are exported, if the principal may read it."""
    return await brands_service.get_brand(session, principal, brand_id)


async def export_csv(runtime: Runtime, brand: Brand, period: Window) -> AsyncIterator[bytes]:
    """Every collection of the brand in the window, oldest first, as CSV lines.

    The body streams after the request's unit of work has closed, so each page is read in its
    own short transaction (never one held open for the whole download).
    """
    yield csv_line(CSV_COLUMNS)
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        statement = (
            select(
                S.id,
                S.post_id,
                S.target_id,
                S.platform,
                PostTarget.published_at,
                S.collected_at,
                *(getattr(S, name) for name in METRICS),
            )
            .join(PostTarget, PostTarget.id == S.target_id)
            .where(
                S.organization_id == brand.organization_id,
                S.brand_id == brand.id,
                S.collected_at >= period.start,
                S.collected_at < period.end,
            )
            .order_by(S.collected_at, S.id)
            .limit(EXPORT_PAGE)
        )
        if after is not None:
            statement = statement.where(
                or_(
                    S.collected_at > after[0],
                    and_(S.collected_at == after[0], S.id > after[1]),
                )
            )
        async with session_scope(runtime) as session:
            rows = (await session.execute(statement)).all()
        if not rows:
            return
        yield b"".join(csv_line(_csv_row(row)) for row in rows)
        if len(rows) < EXPORT_PAGE:
            return
        after = (rows[-1].collected_at, rows[-1].id)


def _csv_row(row: Any) -> list[Any]:
    numbers = {name: getattr(row, name) for name in METRICS}
    rate = engagement_rate(numbers)
    return [
        row.post_id,
        row.target_id,
        row.platform,
        _timestamp(row.published_at),
        _timestamp(row.collected_at),
        *(numbers[name] for name in METRICS),
        "" if rate is None else rate,
    ]


def _timestamp(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

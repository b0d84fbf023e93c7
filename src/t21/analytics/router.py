"""`/api/v1/analytics`: every member of an organization (viewers too) reads its numbers."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from t21.analytics import service
from t21.analytics.schemas import BrandAnalytics, Interval, PostAnalytics, RankMetric, TopPosts
from t21.core.deps import DbSession
from t21.core.routing import APIRouter
from t21.organizations.auth import CurrentPrincipal
from t21.posts.service import known_platform

router = APIRouter(prefix="/analytics", tags=["analytics"])

From = Annotated[
    AwareDatetime | None,
    Query(
        alias="from",
        description="Start of the window, included (default: 30 days before `to`).",
    ),
]
To = Annotated[
    AwareDatetime | None,
    Query(
        alias="to",
        description="End of the window, excluded (default: now). At most 366 days after `from`.",
    ),
]


@router.get("/posts/{post_id}")
async def post_analytics(
    post_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> PostAnalytics:
    """Each target of the post: its latest numbers and every collection, oldest first."""
    return await service.post_analytics(session, principal, post_id)


@router.get("/brands/{brand_id}")
async def brand_analytics(
    brand_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    start: From = None,
    end: To = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    interval: Interval = Interval.DAY,
) -> BrandAnalytics:
    """The brand's totals over `[from, to)` and a time series per UTC day or ISO week.

    Totals are the sum over targets of each target's latest collection in the window. A
    series point is the sum over targets of each target's latest collection from `from` up to
    the end of its bucket: a running level (not growth), so the last point equals the totals.
    """
    return await service.brand_analytics(
        session,
        principal,
        brand_id,
        service.window(start, end),
        interval=interval,
        platform=known_platform(platform) if platform is not None else None,
    )


@router.get("/brands/{brand_id}/top-posts")
async def top_posts(
    brand_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    metric: RankMetric = RankMetric.ENGAGEMENT_RATE,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> TopPosts:
    """The brand's posts ranked by `metric`: the sum over their targets of each target's latest
    number (engagement rate: over their summed impressions, or reach). Posts without that
    number are left out."""
    return await service.top_posts(session, principal, brand_id, metric=metric, limit=limit)


@router.get(
    "/brands/{brand_id}/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per collection."}},
)
async def export_csv(
    brand_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    start: From = None,
    end: To = None,
) -> StreamingResponse:
    """Every collection of the brand's posts in `[from, to)`, oldest first: post_id, target_id,
    platform, published_at, collected_at, each metric and the engagement rate. Text cells
    starting with `= + - @` get a leading `'` so spreadsheets don't run them."""
    period = service.window(start, end)
    brand = await service.export_brand(session, principal, brand_id)
    name = f"t21-analytics-{brand.id}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return StreamingResponse(
        service.export_csv(request.app.state.runtime, brand, period),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
